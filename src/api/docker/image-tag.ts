import { ApiError } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import type { DockerContext } from './context.js';

/** `POST /images/{name}/tag?repo=&tag=`: 201 with no body, as docker answers. */
export async function tagImage(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const repo = req.query.get('repo');
  if (!repo) throw new ApiError(400, 'repo is required');
  const tag = req.query.get('tag');
  await ctx.engine.images.tag(req.params.name!, tag ? `${repo}:${tag}` : repo);
  req.reply.empty(201);
}
