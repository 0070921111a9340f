import type { Container, ContainerConfig } from './container.js';
import type { CreateOptions } from './create-spec.js';
import type { Engine } from './engine.js';
import { BackendError } from './errors.js';
import { isProcessAlive } from './proc.js';
import { CtlConnection } from '../guest/ctl-client.js';
import type { ImageRecord } from '../image/types.js';
import { guestNetFields } from '../net/sandbox-net.js';
import type { Launched } from '../vm/backend.js';
import { qmpCommand } from '../vm/qemu/checkpoint-vm.js';

/** What `Engine.create` asks of a warm pool (src/core/pool.ts). */
export interface WarmPoolTaker {
  /**
   * A ready sandbox for `opts`, adopted as the new container (its configuration becomes
   * `configFor(its id)`), or undefined when none fits or none is ready.
   */
  take(opts: CreateOptions & { template?: boolean }, image: ImageRecord, configFor: (id: string) => Promise<ContainerConfig>): Promise<Container | undefined>;
  /**
   * The rest of the adoption of container `id` (its network endpoint takes the new name), still
   * running after `take` returned; undefined when nothing is left. A start awaits it alongside the
   * guest's RUN, a removal before it detaches the endpoint. It never rejects.
   */
  adoption(id: string): Promise<void> | undefined;
}

const HELLO_MS = 10_000;

/**
 * The start of an adopted warm sandbox: resume its guest, reconnect to the agent (it answers HELLO
 * `prepared`, or `booted`: it waits for RUN), and describe it as a launch for `startSandbox`,
 * which hands it the command. Its network devices were made when the pool filled it (same
 * endpoint: same id), so they are only described for RUN's NET fields, not made again.
 */
export async function resumeWarm(engine: Engine, c: Container): Promise<Launched> {
  const { pid, pidStart } = c.state;
  await qmpCommand(c.dir, 'cont');
  const channel = await CtlConnection.open(c.dir, HELLO_MS);
  try {
    const hello = await channel.hello(HELLO_MS);
    if (hello.state !== 'prepared' && hello.state !== 'booted') throw new BackendError(`warm sandbox ${c.config.name}: its agent is ${hello.state}, not waiting for RUN`, 'START_FAILED');
    const net = await engine.networks.describe(c);
    return {
      pid: pid!,
      ...(pidStart ? { pidStart } : {}),
      ...(c.state.accel ? { accel: c.state.accel } : {}),
      ...(c.state.template ? { template: c.state.template } : {}),
      exited: watchGone(pid!, pidStart),
      channel,
      ...(net.nics.length ? { guestNet: guestNetFields(net) } : {}),
    };
  } catch (err) {
    await channel.close();
    throw err;
  }
}

/** Settles when a process that is not our child is gone (polled; does not keep the event loop alive). */
function watchGone(pid: number, pidStart: string | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (isProcessAlive(pid, pidStart)) return;
      clearInterval(timer);
      resolve();
    }, 100);
    timer.unref();
  });
}
