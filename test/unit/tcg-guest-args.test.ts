import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { qemuArgs } from '../../src/vm/qemu/command.js';
import { GUEST_ARGS, sandboxQemuConfig, TCG_GUEST_ARGS } from '../../src/vm/qemu/sandbox-config.js';
import { TemplateStore } from '../../src/vm/qemu/template-store.js';

// Every guest boots with GUEST_ARGS (a kernel trimmed for one container); a TCG guest also with a
// TSC clocksource (tsc=reliable: tickless when idle), the user's
// NESTBOX_KERNEL_ARGS come after it (so they can override it), and both are in the template key
// (a template booted without them is not restored into a sandbox that expects them).
function withEnv<T>(env: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

describe('TCG guest kernel arguments', () => {
  const guest = mkdtempSync(path.join(tmpdir(), 'nb-guest-'));
  for (const f of ['vmlinux', 'initramfs.cpio']) writeFileSync(path.join(guest, f), f);
  const config = (accel: string, args?: string) =>
    withEnv({ NESTBOX_GUEST_DIR: guest, NESTBOX_ACCEL: accel, NESTBOX_KERNEL_ARGS: args }, () => sandboxQemuConfig({ memoryMiB: 256, cpus: 1, dir: guest, rootDisk: '/dev/null', rwDisk: false }));
  const append = (c: ReturnType<typeof config>) => qemuArgs(c)[qemuArgs(c).indexOf('-append') + 1]!.split(' ');

  test('TCG: tsc=reliable on the command line, before the user arguments', () => {
    const c = config('tcg', 'tsc=unstable foo=1');
    assert.deepEqual(c.append, [...GUEST_ARGS, ...TCG_GUEST_ARGS, 'tsc=unstable', 'foo=1']);
    const words = append(c);
    assert.ok(words.includes('tsc=reliable'));
    assert.ok(words.indexOf('tsc=reliable') < words.indexOf('tsc=unstable'));
  });

  test('KVM: the common arguments, no TCG ones', () => {
    assert.deepEqual(config('kvm').append, GUEST_ARGS);
    assert.ok(GUEST_ARGS.some((a) => a.startsWith('lsm=')));
  });

  test('the template key covers them', () => {
    const store = new TemplateStore(guest);
    const c = config('tcg');
    const spec = { image: 'x', imageId: 'x', chainId: 'sha256:x', rootDisk: '/dev/null', memoryMiB: 256, cpus: 1, accel: c.accel, kernel: c.kernel, initrd: c.initrd };
    assert.notEqual(store.keyFor({ ...spec, append: c.append ?? [] }), store.keyFor({ ...spec, append: [] }));
  });

  after(() => rmSync(guest, { recursive: true, force: true }));
});
