/**
 * Extra CA certificates (`NODE_EXTRA_CA_CERTS`) for registries, loaded when a registry is first
 * contacted over HTTPS instead of at every start of the CLI.
 *
 * Node reads and parses `NODE_EXTRA_CA_CERTS` before it runs any code: with Debian's bundle of
 * ~140 certificates that is ~75 ms on the 2-core machine — more than the rest of nestbox's
 * start-up — paid by `ps`, `exec` and `run` alike, which never speak TLS. So bin/nestbox and
 * bin/nestbox-runtime move the variable aside into `NESTBOX_DEFERRED_CA_CERTS`, and the registry
 * transport trusts those certificates (beside Node's own roots) through its own connection pool.
 */
import { readFileSync } from 'node:fs';

export const DEFERRED_CA_ENV = 'NESTBOX_DEFERRED_CA_CERTS';

/** Put `NODE_EXTRA_CA_CERTS` back for the programs nestbox starts (this process has not read it). */
export function restoreExtraCaEnv(): void {
  const file = process.env[DEFERRED_CA_ENV];
  if (file && process.env.NODE_EXTRA_CA_CERTS === undefined) process.env.NODE_EXTRA_CA_CERTS = file;
}

let dispatcher: Promise<object | undefined> | undefined;

/**
 * The fetch dispatcher that trusts the deferred certificates, or undefined when none were
 * deferred (Node then loaded `NODE_EXTRA_CA_CERTS` itself, as in programs that import nestbox).
 * An unreadable file is reported once and ignored, as Node itself does.
 */
export function extraCaDispatcher(): Promise<object | undefined> {
  const file = process.env[DEFERRED_CA_ENV];
  if (!file) return Promise.resolve(undefined);
  dispatcher ??= (async () => {
    let extra: string;
    try {
      extra = readFileSync(file, 'utf8');
    } catch (err) {
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
      return undefined;
    }
    const [{ Agent }, { rootCertificates }] = await Promise.all([import('undici'), import('node:tls')]);
    return new Agent({ connect: { ca: [...rootCertificates, extra] } });
  })();
  return dispatcher;
}
