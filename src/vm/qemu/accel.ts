import { accessSync, constants, existsSync, readFileSync } from 'node:fs';

export type Accel = 'kvm' | 'tcg';

export interface AccelReport {
  accel: Accel;
  reason: string;
  /** The host itself runs under a hypervisor (nested virtualization). */
  hostIsVm: boolean;
  findings: { devKvm: boolean; kvmAccessible: boolean; vmx: boolean; svm: boolean; pvm: boolean; hypervisorFlag: boolean };
}

/**
 * KVM only when it can run a normal guest: /dev/kvm usable and the CPU has vmx/svm. PVM
 * (kvm_pvm, software nested virtualization) exposes /dev/kvm but cannot boot a standard kernel,
 * so it falls back to TCG. `NESTBOX_ACCEL=kvm|tcg` or the caller's override wins.
 */
export function detectAccel(override = process.env.NESTBOX_ACCEL): AccelReport {
  const flags = cpuFlags();
  const devKvm = existsSync('/dev/kvm');
  let kvmAccessible = false;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    kvmAccessible = true;
  } catch {
    // not usable by us
  }
  const findings = {
    devKvm,
    kvmAccessible,
    vmx: flags.has('vmx'),
    svm: flags.has('svm'),
    pvm: existsSync('/sys/module/kvm_pvm'),
    hypervisorFlag: flags.has('hypervisor'),
  };
  const hostIsVm = findings.hypervisorFlag;
  if (override === 'kvm' || override === 'tcg') {
    return { accel: override, reason: `forced by NESTBOX_ACCEL/--accel=${override}`, hostIsVm, findings };
  }
  if (!devKvm) return { accel: 'tcg', reason: 'no /dev/kvm: using TCG software emulation', hostIsVm, findings };
  if (!kvmAccessible) return { accel: 'tcg', reason: '/dev/kvm is not accessible to this user: using TCG', hostIsVm, findings };
  if (findings.vmx || findings.svm) {
    return { accel: 'kvm', reason: `/dev/kvm present and the CPU has ${findings.vmx ? 'vmx' : 'svm'}${hostIsVm ? ' (nested virtualization)' : ''}`, hostIsVm, findings };
  }
  if (findings.pvm) {
    return { accel: 'tcg', reason: '/dev/kvm is provided by kvm_pvm (PVM) and the CPU has no vmx/svm: a standard guest kernel does not boot on it, using TCG', hostIsVm, findings };
  }
  return { accel: 'tcg', reason: '/dev/kvm present but the CPU shows no vmx/svm: using TCG', hostIsVm, findings };
}

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/** The host's TSC rate in kHz (from /proc/cpuinfo), or undefined when it cannot be read. */
export function hostTscKhz(): number | undefined {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('cpu MHz'));
    const mhz = Number(line?.split(':')[1]);
    return Number.isFinite(mhz) && mhz > 100 ? Math.round(mhz * 1000) : undefined;
  } catch {
    return undefined;
  }
}
