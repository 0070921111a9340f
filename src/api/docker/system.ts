import * as os from 'node:os';
import { VERSION } from '../../core/version.js';
import { systemInfo } from '../../core/system-info.js';
import type { ApiRequest } from '../router.js';
import { API_VERSION, MIN_API_VERSION } from '../version.js';
import type { DockerContext } from './context.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/** `GET|HEAD /_ping` — the headers (API-Version, Ostype…) are added to every response by the server. */
export function ping(_ctx: DockerContext, req: ApiRequest): void {
  if (req.method === 'HEAD') return req.reply.empty(200);
  req.reply.text(200, 'OK');
}

/** `GET /version` */
export function version(_ctx: DockerContext, req: ApiRequest): void {
  const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: ARCH[process.arch] ?? process.arch, KernelVersion: os.release() };
  req.reply.json(200, {
    Platform: { Name: 'nestbox' },
    Components: [{ Name: 'Engine', Version: VERSION, Details: { ...details, GitCommit: '', GoVersion: `node ${process.version}`, Experimental: 'false' } }],
    Version: VERSION,
    GitCommit: '',
    GoVersion: `node ${process.version}`,
    BuildTime: '',
    Experimental: false,
    ...details,
  });
}

/** `GET /info` — Docker's fields, plus the accelerator in DriverStatus (docker info prints it). */
export async function info(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const s = await systemInfo(ctx.engine);
  const a = s.accelerator;
  req.reply.json(200, {
    ID: '',
    Containers: s.containers.total,
    ContainersRunning: s.containers.running,
    ContainersPaused: s.containers.paused,
    ContainersStopped: s.containers.stopped,
    Images: s.images,
    Driver: 'nestbox',
    DriverStatus: [
      ['Isolation', 'vm (default), process'],
      ['Accelerator', a.accel.toUpperCase()],
      ['Accelerator Reason', a.reason],
      ['VMM', `${s.vmm.binary} (${s.vmm.version ?? 'not found'}), machine microvm`],
      ['Guest Kernel', s.guest.kernelRelease ?? 'not installed'],
      ['Process Runtime', `${s.runc.binary} (${s.runc.version ?? 'not found'})`],
    ],
    Plugins: { Volume: [], Network: [], Authorization: null, Log: [] },
    MemoryLimit: true,
    SwapLimit: true,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    BridgeNfIptables: true,
    BridgeNfIp6tables: true,
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'nestbox-log',
    CgroupDriver: 'none',
    CgroupVersion: '',
    NEventsListener: 0,
    KernelVersion: s.hostKernel,
    OperatingSystem: 'nestbox',
    OSVersion: '',
    OSType: 'linux',
    Architecture: os.arch() === 'x64' ? 'x86_64' : os.arch(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: null,
    NCPU: s.cpus,
    MemTotal: s.memoryBytes,
    DockerRootDir: s.root,
    Name: os.hostname(),
    Labels: [`org.nestbox.accelerator=${a.accel}`],
    ExperimentalBuild: false,
    ServerVersion: VERSION,
    Runtimes: { 'nestbox-vm': { path: s.vmm.binary }, runc: { path: s.runc.binary } },
    DefaultRuntime: 'nestbox-vm',
    Swarm: { LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    SecurityOptions: [],
    Warnings: a.accel === 'tcg' ? [`WARNING: VMs run under TCG software emulation (${a.reason})`] : [],
  });
}
