import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { systemInfo } from '../../core/system-info.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('Display system-wide information: accelerator (KVM or TCG) and why, nesting, guest kernel, counts')
    .option('--format <format>', "'text' (default) or 'json'")
    .action(async (flags: { format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const info = await systemInfo(engine);
      if (flags.format === 'json') return out(JSON.stringify(info, null, 2));
      const a = info.accelerator;
      const f = a.findings;
      out(`Server Version: ${info.version}`);
      out(`Root Dir: ${info.root}`);
      out(`Containers: ${info.containers.total}`);
      out(` Running: ${info.containers.running}`);
      out(` Paused: ${info.containers.paused}`);
      out(` Stopped: ${info.containers.stopped}`);
      out(`Images: ${info.images}`);
      out(`Isolation: vm (default), process`);
      out(`Accelerator: ${a.accel.toUpperCase()}`);
      out(` Reason: ${a.reason}`);
      out(` /dev/kvm: ${f.devKvm ? (f.kvmAccessible ? 'present' : 'present, not accessible') : 'absent'}${f.pvm ? ' (kvm_pvm module: PVM)' : ''}`);
      out(` CPU virtualization flags: ${[f.vmx && 'vmx', f.svm && 'svm'].filter(Boolean).join(', ') || 'none (no vmx/svm)'}`);
      out(` Host is a VM (nested virtualization): ${a.hostIsVm ? 'yes (CPU reports the hypervisor flag)' : 'no'}`);
      out(`VMM: ${info.vmm.binary} (${info.vmm.version ?? 'not found'}), machine microvm`);
      out(`Guest Kernel: ${info.guest.kernelRelease ?? 'not installed'} (${info.guest.dir})`);
      out(`Guest Agent: ${info.guest.agentVersion ?? 'not installed'}, protocol ${info.guest.protocolVersion}`);
      out(`Process Runtime: ${info.runc.binary} (${info.runc.version ?? 'not found'})`);
      out(`Kernel Version: ${info.hostKernel}`);
      out(`CPUs: ${info.cpus}`);
      out(`Total Memory: ${(info.memoryBytes / 1024 ** 3).toFixed(2)}GiB`);
    });
}
