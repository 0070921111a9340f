import type { Container } from '../../core/container.js';
import type { ApiRequest } from '../router.js';
import type { DockerContext } from '../docker/context.js';

/** The native view of a sandbox: what Docker's API has no field for (isolation, accelerator, pids). */
export function sandboxView(c: Container): Record<string, unknown> {
  const running = c.state.status === 'running' || c.state.status === 'paused';
  return {
    id: c.config.id,
    name: c.config.name,
    image: c.config.image,
    imageId: c.config.imageId,
    isolation: c.config.isolation,
    status: c.state.status,
    exitCode: c.state.status === 'exited' ? (c.state.exitCode ?? 0) : null,
    error: c.state.error ?? null,
    accelerator: c.config.isolation === 'vm' ? (c.state.accel ?? null) : null,
    monitorPid: running ? (c.state.pid ?? null) : null,
    guestPid: running ? (c.state.guestPid ?? null) : null,
    memoryMiB: c.config.memoryMiB,
    vcpus: c.config.cpus,
    readOnly: c.config.readOnly,
    createdAt: c.config.created,
    startedAt: c.state.startedAt ?? null,
    finishedAt: c.state.finishedAt ?? null,
  };
}

/** `GET /nestbox/v1/sandboxes` — every sandbox, any state. */
export async function listSandboxes(ctx: DockerContext, req: ApiRequest): Promise<void> {
  req.reply.json(200, (await ctx.engine.list({ all: true })).map(sandboxView));
}

/** `GET /nestbox/v1/sandboxes/:id` — by id, id prefix or name. */
export async function getSandbox(ctx: DockerContext, req: ApiRequest): Promise<void> {
  req.reply.json(200, sandboxView(await ctx.engine.inspect(req.params.id!)));
}
