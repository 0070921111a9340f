/**
 * Build the embedded default image (busybox:latest from Debian's busybox-static) as an
 * oci-archive: `npx tsx scripts/build-default-image.ts build/images/busybox.oci.tar`.
 */
import { buildDefaultImage } from '../src/image/default-image-build.js';

const out = process.argv[2];
if (!out || process.argv.length > 4) {
  process.stderr.write('usage: build-default-image OUT.tar [BUSYBOX]\n');
  process.exit(2);
}
try {
  const built = await buildDefaultImage(out, process.argv[3]);
  process.stdout.write(`${out}: docker.io/library/busybox:latest, image ${built.configDigest}, manifest ${built.manifestDigest}, ${built.applets} applets\n`);
} catch (err) {
  process.stderr.write(`build-default-image: ${(err as Error).message}\n`);
  process.exit(1);
}
