import { Router, type ApiRequest } from '../router.js';
import type { DockerContext } from './context.js';
import { info, ping, version } from './system.js';
import { createContainer, inspectContainer, killContainer, listContainers, removeContainer, resizeContainer, startContainer, stopContainer } from './containers.js';
import { attachContainer } from './attach.js';
import { waitContainer } from './wait.js';
import { containerLogs } from './logs.js';
import { createExec, inspectExec, resizeExec, startExec } from './exec.js';
import { inspectImage, listImages, removeImage } from './images.js';
import { checkAuth, pullImage, pushImage } from './registry.js';
import { tagImage } from './image-tag.js';
import { createVolume, inspectVolume, listVolumes, pruneVolumes, removeVolume } from './volumes.js';
import { connectNetwork, createNetwork, disconnectNetwork, inspectNetwork, listNetworks, pruneNetworks, removeNetwork } from './networks.js';

/** The Docker Engine API routes nestbox implements (see docs/api.md). */
export function dockerRouter(ctx: DockerContext): Router {
  const h = (f: (ctx: DockerContext, req: ApiRequest) => Promise<void> | void) => (req: ApiRequest) => f(ctx, req);
  return new Router()
    .on('GET', '/_ping', h(ping))
    .on('GET', '/version', h(version))
    .on('GET', '/info', h(info))
    .on('GET', '/containers/json', h(listContainers))
    .on('POST', '/containers/create', h(createContainer))
    .on('GET', '/containers/:id/json', h(inspectContainer))
    .on('POST', '/containers/:id/start', h(startContainer))
    .on('POST', '/containers/:id/stop', h(stopContainer))
    .on('POST', '/containers/:id/kill', h(killContainer))
    .on('POST', '/containers/:id/wait', h(waitContainer))
    .on('POST', '/containers/:id/attach', h(attachContainer))
    .on('POST', '/containers/:id/resize', h(resizeContainer))
    .on('GET', '/containers/:id/logs', h(containerLogs))
    .on('DELETE', '/containers/:id', h(removeContainer))
    .on('POST', '/containers/:id/exec', h(createExec))
    .on('POST', '/exec/:id/start', h(startExec))
    .on('POST', '/exec/:id/resize', h(resizeExec))
    .on('GET', '/exec/:id/json', h(inspectExec))
    .on('GET', '/images/json', h(listImages))
    .on('POST', '/images/create', h(pullImage))
    .on('POST', '/images/*name/push', h(pushImage))
    .on('POST', '/images/*name/tag', h(tagImage))
    .on('POST', '/auth', h(checkAuth))
    .on('GET', '/volumes', h(listVolumes))
    .on('POST', '/volumes/create', h(createVolume))
    .on('POST', '/volumes/prune', h(pruneVolumes))
    .on('GET', '/volumes/:name', h(inspectVolume))
    .on('DELETE', '/volumes/:name', h(removeVolume))
    .on('GET', '/networks', h(listNetworks))
    .on('POST', '/networks/create', h(createNetwork))
    .on('POST', '/networks/prune', h(pruneNetworks))
    .on('GET', '/networks/:id', h(inspectNetwork))
    .on('DELETE', '/networks/:id', h(removeNetwork))
    .on('POST', '/networks/:id/connect', h(connectNetwork))
    .on('POST', '/networks/:id/disconnect', h(disconnectNetwork))
    .on('GET', '/images/*name/json', h(inspectImage))
    .on('DELETE', '/images/*name', h(removeImage));
}
