import { familiar } from '../../image/reference.js';
import { imageInspectDocument } from '../../image/inspect-document.js';
import { ApiError } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import { flag, type DockerContext } from './context.js';

const unix = (iso?: string) => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

/** `GET /images/json` */
export async function listImages(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const list = await ctx.engine.images.list();
  req.reply.json(200, list.map((i) => ({
    Id: i.id,
    ParentId: '',
    RepoTags: i.repoTags.map((t) => familiar(t)),
    RepoDigests: [],
    Created: unix(i.created),
    Size: i.size,
    SharedSize: -1,
    Labels: i.config.Labels ?? {},
    Containers: -1,
  })));
}

/** `GET /images/{name}/json` */
export async function inspectImage(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const i = await ctx.engine.images.resolve(req.params.name!);
  req.reply.json(200, imageInspectDocument(i));
}

/** `DELETE /images/{name}?force=` */
export async function removeImage(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const r = await ctx.engine.removeImage(req.params.name!, flag(req.query, 'force'));
  req.reply.json(200, [...r.untagged.map((t) => ({ Untagged: familiar(t) })), ...r.deleted.map((d) => ({ Deleted: d }))]);
}

/**
 * `POST /images/create?fromImage=&tag=`: pulling is not implemented yet. An image that is already
 * in the store succeeds (so `docker run`/`docker pull` of a loaded image work).
 */
export async function pullImage(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const from = req.query.get('fromImage');
  if (!from) throw new ApiError(501, 'importing images (fromSrc) is not implemented by nestbox; use `nestbox load -i FILE`');
  const tag = req.query.get('tag');
  const ref = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
  const image = await ctx.engine.images.resolve(ref).catch(() => undefined);
  if (!image) {
    throw new ApiError(501, `pulling ${ref} from a registry is not implemented by nestbox serve yet: load the image with \`nestbox load -i FILE\``);
  }
  const out = req.reply.stream(200, 'application/json');
  const name = familiar(image.repoTags[0] ?? ref);
  await out.write(JSON.stringify({ status: `Pulling from ${name.split(':')[0]}`, id: tag ?? 'latest' }) + '\n');
  await out.write(JSON.stringify({ status: `Digest: ${image.manifestDigest}` }) + '\n');
  await out.write(JSON.stringify({ status: `Status: Image is up to date for ${name}` }) + '\n');
  out.end();
}
