/**
 * Per-layer progress for pull and push, as docker shows it: on a TTY one line per layer,
 * redrawn in place with a bar; otherwise one plain line per state change (no bars, no escape
 * codes), so logs stay readable. `quiet` prints nothing here.
 */
import { humanSize } from './format.js';

interface Line {
  id: string;
  status: string;
  current?: number;
  total?: number;
}

export class LayerProgress {
  private readonly lines: Line[] = [];
  private drawn = 0;
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly quiet = false) {
    this.tty = Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
  }

  /** A line above the layer table (`latest: Pulling from library/alpine`). */
  message(text: string): void {
    if (this.quiet) return;
    this.flush();
    this.stream.write(text + '\n');
    this.drawn = 0;
    this.lines.length = 0;
  }

  layer(id: string, status: string, current?: number, total?: number): void {
    if (this.quiet) return;
    let line = this.lines.find((l) => l.id === id);
    const changed = line?.status !== status;
    if (!line) {
      line = { id, status };
      this.lines.push(line);
    }
    line.status = status;
    line.current = current;
    line.total = total;
    if (!this.tty) {
      if (changed) this.stream.write(`${id}: ${status}\n`);
      return;
    }
    const now = Date.now();
    if (changed || now - this.lastDraw > 100) this.draw();
  }

  /** Draw the final state of the table. */
  flush(): void {
    if (this.tty && this.lines.length) this.draw();
  }

  private draw(): void {
    this.lastDraw = Date.now();
    const width = Math.max(40, (this.stream.columns ?? 80) - 1);
    let text = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const l of this.lines) text += `\r\x1b[2K${render(l).slice(0, width)}\n`;
    this.drawn = this.lines.length;
    this.stream.write(text);
  }
}

function render(l: Line): string {
  if (l.current === undefined || !l.total || (l.status !== 'Downloading' && l.status !== 'Resuming' && l.status !== 'Pushing')) return `${l.id}: ${l.status}`;
  const frac = Math.min(1, l.current / l.total);
  const bar = `[${'='.repeat(Math.max(0, Math.round(frac * 40) - 1))}>${' '.repeat(40 - Math.max(1, Math.round(frac * 40)))}]`;
  return `${l.id}: ${l.status} ${bar} ${humanSize(l.current)}/${humanSize(l.total)}`;
}
