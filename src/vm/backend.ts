import type { Container, Isolation } from '../core/container.js';
import type { CtlConnection } from '../guest/ctl-client.js';
import type { ImageRecord } from '../image/types.js';
import type { SandboxNet } from '../net/sandbox-net.js';

export interface Launched {
  /** Host pid of the sandbox's monitor process (QEMU, or the shim around runc). */
  pid: number;
  pidStart?: string;
  accel?: string;
  /** Settles when the monitor exits while this process still watches it (its own child). */
  exited: Promise<void>;
  /** A ctl connection whose HELLO was already answered (a sandbox restored from a template). */
  channel?: CtlConnection;
  /** Key of the template the sandbox was restored from. */
  template?: string;
  /** RUN's MOUNT fields for the guest agent (a VM with volumes, host directories or tmpfs). */
  guestMounts?: string[];
  /** RUN's NET fields for the guest agent (a VM's NICs, resolvers, hosts lines). */
  guestNet?: string[];
}

/**
 * What differs between isolation modes. Everything above it — the guest channel (ctl sockets,
 * log and events files), lifecycle and state — is shared, so both modes pass one test suite.
 */
export interface Backend {
  readonly isolation: Isolation;
  /** Create what lives as long as the container: writable layer, bundle. */
  prepare(c: Container, image: ImageRecord): Promise<void>;
  /** Start the monitor detached (it outlives the caller) with the guest channel in `c.dir`. */
  launch(c: Container, image: ImageRecord, net?: SandboxNet): Promise<Launched>;
  /** End the sandbox without the guest's cooperation; resolves when the monitor is gone. */
  halt(c: Container): Promise<void>;
  /** Remove what `prepare` and `launch` created (the directory itself is the store's). */
  destroy(c: Container): Promise<void>;
  /** Freeze every guest CPU, keeping memory (absent: the backend cannot). */
  pause?(c: Container): Promise<void>;
  /** Let a paused sandbox run again. */
  resume?(c: Container): Promise<void>;
}

/** What backends need from the image store. */
export interface RootfsProvider {
  rootfsDisk(image: ImageRecord): Promise<string>;
  rootfsDir(image: ImageRecord): Promise<string>;
}
