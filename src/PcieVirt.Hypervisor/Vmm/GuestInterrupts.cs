using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Vmm;

/// <summary>
/// How a completion interrupt reaches a guest's vCPU and what the guest pays to take it: a posted
/// interrupt into a running vCPU (no exit), the host waking a halted vCPU, or the classic route of an
/// external-interrupt exit and an injection; then the EOI (an exit without APIC virtualization).
/// </summary>
public sealed class GuestInterrupts(SimEngine engine, VirtualMachine vm, TimingParameters timing)
{
    /// <summary>Interrupts delivered to the guest.</summary>
    public long Delivered { get; private set; }

    /// <summary>
    /// A message for <paramref name="vector"/> reached the root complex now for a guest whose workload runs
    /// on <paramref name="cpu"/>: charge the way in and schedule the guest to run.
    /// <paramref name="posted"/>: the IOMMU posted it (already in the descriptor); otherwise it came to the host.
    /// </summary>
    public void Deliver(BlockWorkload workload, CpuTimeline cpu, byte vector, bool posted)
    {
        Delivered++;
        ulong flight = timing[TimingParameter.PostedWriteLatency];
        ulong at = engine.Now + flight;
        cpu.HoldPending(IoComponent.Link, flight, false, engine.Now);
        bool halted = workload.IsHalted && cpu.Actor.FreeAt <= at;
        if (posted)
        {
            vm.PostedInterrupts.SyncTo(vm.Apic);
            if (halted)
            {
                // The notification goes to the host, which wakes the vCPU (HLT exit, schedule, re-enter).
                Spend(cpu, IoComponent.HaltWakeup, TimingParameter.HaltWakeup, ref at, hostCpu: true);
            }
            else Spend(cpu, IoComponent.Interrupt, TimingParameter.PostedInterrupt, ref at, hostCpu: false);
        }
        else
        {
            vm.Apic.Raise(vector);
            if (halted) Spend(cpu, IoComponent.HaltWakeup, TimingParameter.HaltWakeup, ref at, hostCpu: true);
            else
            {
                cpu.CountExit(ExitReason.ExternalInterrupt);
                Spend(cpu, IoComponent.Interrupt, TimingParameter.ExternalInterruptExit, ref at, hostCpu: true);
            }
            Spend(cpu, IoComponent.Interrupt, TimingParameter.InterruptInjection, ref at, hostCpu: true);
        }
        workload.RunAt(at);
    }

    /// <summary>
    /// The hypervisor (on a thread whose now is <paramref name="at"/>) injects <paramref name="vector"/> into the
    /// guest whose workload runs on <paramref name="cpu"/>: an emulated or paravirtual device's interrupt.
    /// </summary>
    public void Inject(BlockWorkload workload, CpuTimeline cpu, byte vector, ulong at)
    {
        Delivered++;
        vm.Apic.Raise(vector);
        if (workload.IsHalted && cpu.Actor.FreeAt <= at)
            Spend(cpu, IoComponent.HaltWakeup, TimingParameter.HaltWakeup, ref at, hostCpu: true);
        Spend(cpu, IoComponent.Interrupt, TimingParameter.InterruptInjection, ref at, hostCpu: true);
        workload.RunAt(at);
    }

    void Spend(CpuTimeline cpu, IoComponent c, TimingParameter p, ref ulong at, bool hostCpu)
    {
        ulong ns = timing[p];
        cpu.HoldPending(c, ns, hostCpu, at);
        at += ns;
    }

    /// <summary>The guest's interrupt handler acknowledges what it took and ends it with an EOI.</summary>
    public void Acknowledge(CpuTimeline cpu)
    {
        bool any = false;
        while (vm.Apic.HasDeliverable)
        {
            vm.Apic.Acknowledge();
            vm.Apic.Eoi();
            any = true;
        }
        if (!any || timing.IsSet(TimingParameter.Apicv)) return; // APICv: a virtual EOI, no exit
        cpu.CountExit(ExitReason.Eoi);
        cpu.Spend(IoComponent.EoiExit, timing[TimingParameter.EoiExit], hostCpu: true);
    }

    /// <summary>The guest's vCPU halts waiting for its requests: a HLT exit.</summary>
    public static void Halt(CpuTimeline cpu) => cpu.CountExit(ExitReason.Halt);
}
