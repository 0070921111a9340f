import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as net from 'node:net';
import { TestRoot, runCommand } from '../helpers/cli.js';
import { tableNames } from '../../src/net/nft.js';

// Networks with real guests and tools, on loopback and test namespaces only: names over DNS, L2
// broadcast and multicast between a VM and a process container on one bridge, isolation between
// networks and from the host, masquerade towards an "upstream" namespace, published ports fetched
// with curl, and nothing left on the host afterwards. Three VMs (restored from a template).
const root = new TestRoot();
const rand = 20000 + Math.floor(Math.random() * 20000);
const WEB_PORT = rand;
const HOST_PORT = rand + 1;
const UP_PORT = rand + 2;
const UPNS = `nbtest-up${process.pid % 10000}`;
const UPDEV = `nbtup${process.pid % 10000}`;
const children: ChildProcess[] = [];

async function ok(args: string[], what = args.join(' ')): Promise<string> {
  const r = await root.nb(args, { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
const sh = (name: string, script: string, timeoutMs = 60_000) => root.nb(['exec', name, 'sh', '-c', script], { timeoutMs });
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const ipOf = async (name: string, network: string) => (await inspect(name)).NetworkSettings.Networks[network].IPAddress as string;
const hostSh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8' });

/** A node program in the background (in a namespace with `ip netns exec`); killed at the end. */
function background(args: string[]): ChildProcess {
  const child = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

before(async () => {
  // the "outside world": a namespace behind a veth that is not a nestbox device, with a TCP
  // server that answers with the address it sees the client come from
  hostSh(`ip netns add ${UPNS} && ip link add ${UPDEV} type veth peer name up0 netns ${UPNS} && ip addr add 198.51.100.1/24 dev ${UPDEV} && ip link set ${UPDEV} up && ip -n ${UPNS} addr add 198.51.100.2/24 dev up0 && ip -n ${UPNS} link set up0 up && ip -n ${UPNS} link set lo up && ip -n ${UPNS} route add default via 198.51.100.1`);
  const server = background(['ip', 'netns', 'exec', UPNS, process.execPath, '-e', `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${UP_PORT}, '0.0.0.0', () => console.log('up'))`]);
  await new Promise((r) => server.stdout!.once('data', r));
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  try {
    hostSh(`ip netns del ${UPNS} 2>/dev/null; ip link del ${UPDEV} 2>/dev/null; true`);
  } finally {
    const ids = (await root.nb(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await root.nb(['rm', '-f', ...ids], { timeoutMs: 60_000 });
    await root.nb(['network', 'rm', '-f', 'net-a', 'net-b'], { timeoutMs: 60_000 });
    await root.dispose();
  }
});

describe('networks', () => {
  const hostListener = net.createServer((s) => s.end('host-secret\n'));
  const loopListener = net.createServer((s) => s.end('loop-secret\n'));
  after(() => {
    hostListener.close();
    loopListener.close();
  });

  test('names, L2 broadcast and multicast, VM <-> process, isolation, NAT, published ports; nothing left behind', { timeout: 400_000 }, async () => {
    await new Promise<void>((r) => hostListener.listen(HOST_PORT, '0.0.0.0', r));
    await new Promise<void>((r) => loopListener.listen(HOST_PORT + 3, '127.0.0.1', r));

    await ok(['network', 'create', 'net-a']);
    await ok(['network', 'create', '--subnet', '10.89.250.0/24', 'net-b']);
    const nets = JSON.parse(await ok(['network', 'inspect', 'net-a', 'net-b']));
    assert.equal(nets[1].IPAM.Config[0].Subnet, '10.89.250.0/24');
    assert.equal(nets[1].IPAM.Config[0].Gateway, '10.89.250.1');

    // two CLIs at once never get one address
    const [x, y] = await Promise.all([0, 1].map(() => root.nb(['create', '--isolation=process', '--network', 'net-a', 'busybox', 'true'])));
    assert.equal(x!.code, 0, x!.stderr);
    assert.equal(y!.code, 0, y!.stderr);
    const ipx = await ipOf(x!.stdout.trim(), 'net-a');
    const ipy = await ipOf(y!.stdout.trim(), 'net-a');
    assert.notEqual(ipx, ipy);
    await ok(['rm', x!.stdout.trim(), y!.stdout.trim()]);

    await ok(['run', '-d', '--name', 'a1', '--network', 'net-a', '--network-alias', 'alpha', 'busybox', 'sleep', '3600']);
    await ok(['run', '-d', '--name', 'a2', '--isolation=process', '--network', 'net-a', 'busybox', 'sleep', '3600']);
    await ok(['run', '-d', '--name', 'b1', '--isolation=process', '--network', 'net-b', '--ip', '10.89.250.77', 'busybox', 'sleep', '3600']);
    assert.equal(await ipOf('b1', 'net-b'), '10.89.250.77');
    const a1 = await ipOf('a1', 'net-a');
    const a2 = await ipOf('a2', 'net-a');
    const a1doc = await inspect('a1');
    assert.ok(a1doc.Nestbox.Template, 'a VM on a network is still restored from its template');
    assert.equal(a1doc.NetworkSettings.Networks['net-a'].MacAddress, a1doc.NetworkSettings.MacAddress);

    // the VM configured itself: address, MAC, default route, resolv.conf, hosts
    const cfg = await sh('a1', 'ip -o -4 addr show eth0; cat /sys/class/net/eth0/address; ip route; cat /etc/resolv.conf /etc/hosts');
    assert.equal(cfg.code, 0, cfg.stderr);
    assert.match(cfg.stdout, new RegExp(`inet ${a1.replace(/\./g, '\\.')}/24`));
    assert.match(cfg.stdout, new RegExp(a1doc.NetworkSettings.MacAddress));
    assert.match(cfg.stdout, /default via 10\.89\.\d+\.1/);
    assert.match(cfg.stdout, /nameserver 10\.89\.\d+\.1/);
    // IPv4-only networks: a process container's NIC has no IPv6 address either (lo keeps ::1)
    const v6 = await sh('a2', 'ip -o -6 addr show eth0 | wc -l; ip -o -6 addr show lo');
    assert.equal(v6.code, 0, v6.stderr);
    assert.match(v6.stdout, /^0\n/, v6.stdout);
    assert.match(v6.stdout, /::1\/128/, v6.stdout);

    // names and aliases over the network's DNS, VM <-> process both ways, TCP both ways
    const names = await sh('a2', 'nslookup a1 && nslookup alpha && ping -c1 -W5 alpha');
    assert.equal(names.code, 0, names.stdout + names.stderr);
    assert.match(names.stdout, new RegExp(a1.replace(/\./g, '\\.')));
    const tcp = root.nb(['exec', 'a1', 'sh', '-c', 'echo from-vm | nc -l -p 7000'], { timeoutMs: 30_000 });
    let got = '';
    for (let i = 0; i < 20 && !got.includes('from-vm'); i++) {
      await new Promise((r) => setTimeout(r, 300));
      got = (await sh('a2', 'nc -w2 a1 7000 </dev/null')).stdout;
    }
    assert.match(got, /from-vm/, 'process container reads from a TCP server in the VM by name');
    await tcp;
    const back = await sh('a1', 'ping -c1 -W5 a2 && nslookup a2');
    assert.equal(back.code, 0, back.stdout + back.stderr);

    // L2 broadcast and multicast both ways (busybox nc has no UDP): both kernels answer echo
    // requests sent to the subnet's broadcast address and to 224.0.0.1 (all hosts), so each
    // side sees the other's reply only if the frame crossed the bridge
    const ns = `nb-${(await inspect('a2')).Id.slice(0, 8)}`;
    await sh('a1', 'echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_broadcasts');
    hostSh(`ip netns exec ${ns} sh -c 'echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_broadcasts'`);
    const bcast = a2.replace(/\.\d+$/, '.255');
    for (const [from, peer] of [['a2', a1], ['a1', a2]] as const) {
      const r = await sh(from, `ping -c3 -W3 ${bcast}; ping -c3 -W3 224.0.0.1`);
      const replies = r.stdout.split('\n').filter((l) => l.includes(`from ${peer}:`));
      assert.ok(replies.length >= 2, `${from}: no broadcast and multicast replies from ${peer}:\n${r.stdout}${r.stderr}`);
    }

    // other networks are unreachable, by address and by name
    const cross = await sh('a2', `ping -c1 -W2 10.89.250.77; nc -w2 10.89.250.77 22 </dev/null; nslookup b1 || echo no-name`);
    assert.match(cross.stdout, /100% packet loss/);
    assert.match(cross.stdout, /no-name/);
    const crossVm = await sh('a1', 'ping -c1 -W2 10.89.250.77');
    assert.match(crossVm.stdout, /100% packet loss/);
    const crossBack = await sh('b1', `ping -c1 -W2 ${a1}; ping -c1 -W2 ${a2}`);
    assert.doesNotMatch(crossBack.stdout, / 0% packet loss/);

    // outbound NAT: the upstream server sees the host's address, not the container's
    for (const name of ['a1', 'a2']) {
      const out = await sh(name, `nc -w3 198.51.100.2 ${UP_PORT} </dev/null`);
      assert.equal(out.stdout.trim(), '198.51.100.1', `${name}: masqueraded towards the upstream namespace: ${out.stdout}${out.stderr}`);
    }

    // the host is closed to containers: its eth0 address, the gateway, 127.0.0.1 through the gateway
    const hostIp = hostSh("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | grep -v '^10\\.89\\.' | grep -v '^198\\.51\\.100\\.' | head -1").trim();
    for (const name of ['a1', 'a2']) {
      const gw = (await inspect(name)).NetworkSettings.Gateway;
      const probe = await sh(name, `nc -w2 ${hostIp} ${HOST_PORT} </dev/null; nc -w2 ${gw} ${HOST_PORT} </dev/null; echo done`);
      assert.doesNotMatch(probe.stdout, /host-secret/, `${name} reached a host service`);
      // …but its gateway answers ping, as with Docker
      assert.match((await sh(name, `ping -c1 -W5 ${gw}`)).stdout, /1 packets received/, `${name} cannot ping its gateway ${gw}`);
    }
    const loop = await sh('a1', `gw=$(ip route | awk '/default/{print $3}'); ip route del table local 127.0.0.0/8 dev lo; ip route del table local 127.0.0.1 dev lo; ip route add 127.0.0.1/32 via $gw dev eth0 && nc -w2 127.0.0.1 ${HOST_PORT + 3} </dev/null; echo done`);
    assert.doesNotMatch(loop.stdout, /loop-secret/, 'the VM reached the host\'s 127.0.0.1 through the gateway');

    // published ports: curl on the host's loopback and its address; a container through the gateway
    await ok(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${WEB_PORT}:80`, '-p', `${WEB_PORT + 5}:80`, 'busybox', 'sh', '-c', 'mkdir -p /www && echo hello-web > /www/index.html && httpd -f -p 80 -h /www']);
    assert.equal((await ok(['port', 'web', '80'])).trim().split('\n')[0], `127.0.0.1:${WEB_PORT}`);
    let page = '';
    for (let i = 0; i < 30 && !page.includes('hello-web'); i++) {
      page = (await runCommand('curl', ['-s', '-m', '3', `http://127.0.0.1:${WEB_PORT}/`], { timeoutMs: 10_000 })).stdout;
      if (!page) await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(page, 'hello-web\n');
    assert.equal((await runCommand('curl', ['-s', '-m', '3', `http://${hostIp}:${WEB_PORT + 5}/`])).stdout, 'hello-web\n');
    const viaGw = await sh('a2', `gw=$(ip route | awk '/default/{print $3}'); printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w3 $gw ${WEB_PORT + 5}`);
    assert.match(viaGw.stdout, /hello-web/, 'a container reaches a published port through its gateway');

    // --network none: the VM's NIC stays down, and it has no address
    const none = await ok(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'cat /sys/class/net/eth0/operstate; ip -o -4 addr show eth0 | wc -l']);
    assert.deepEqual(none.trim().split('\n'), ['down', '0']);

    // a network in use cannot be removed; rm takes everything with it
    const busy = await root.nb(['network', 'rm', 'net-a']);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /active endpoints/);
    const ids = JSON.parse(await ok(['inspect', 'a1', 'a2', 'b1', 'web'])).map((d: { Id: string }) => d.Id.slice(0, 8));
    const netIds = nets.map((n: { Id: string }) => n.Id as string);
    const defaultId = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0].Id as string;
    await ok(['rm', '-f', 'a1', 'a2', 'b1', 'web']);
    await ok(['network', 'rm', 'net-a', 'net-b']);
    // the default network stays up after its last container, as docker0 does: prune takes it down
    assert.ok(readdirSync('/sys/class/net').includes(`nbr-${defaultId.slice(0, 8)}`), 'the default bridge stays up');
    await ok(['network', 'prune', '-f']);
    const links = readdirSync('/sys/class/net');
    for (const id of ids) {
      assert.ok(!links.some((l) => l.includes(id)), `a device of container ${id} is left: ${links.join(' ')}`);
      assert.ok(!existsSync(`/run/netns/nb-${id}`), `netns nb-${id} is left`);
    }
    for (const id of [...netIds, defaultId]) {
      assert.ok(!links.includes(`nbr-${id.slice(0, 8)}`), `bridge of network ${id} is left`);
      assert.ok(!existsSync(`/run/nestbox/dns/${id.slice(0, 16)}`), `dnsmasq files of network ${id} are left`);
      assert.equal((await runCommand('pgrep', ['-f', `/run/nestbox/dns/${id.slice(0, 16)}/`])).stdout, '', 'a dnsmasq is left');
    }
    const tables = hostSh('nft list tables');
    const t = tableNames(root.dir);
    assert.ok(!tables.includes(t.filter) && !tables.includes(t.nat), `nft tables left: ${tables}`);
  });
});
