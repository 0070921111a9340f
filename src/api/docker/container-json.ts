import type { Container } from '../../core/container.js';
import { familiarImage } from '../../core/inspect.js';
import { statusText } from '../../core/status-text.js';

/** One entry of `GET /containers/json` (what `docker ps` prints). */
export function containerSummary(c: Container): Record<string, unknown> {
  const { config: cfg, state: st } = c;
  return {
    Id: cfg.id,
    Names: [`/${cfg.name}`],
    Image: familiarImage(cfg.image),
    ImageID: cfg.imageId,
    Command: cfg.process.args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' '),
    Created: Math.floor(Date.parse(cfg.created) / 1000),
    Ports: [],
    Labels: { 'org.nestbox.isolation': cfg.isolation },
    State: st.status,
    Status: statusText(c),
    HostConfig: { NetworkMode: 'none' },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  };
}
