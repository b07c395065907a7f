using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Storage;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Hypervisor.Vmm;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>
/// What the two software paths share: a booted host, a VM with one vCPU, a hypervisor thread (the VMM's
/// main loop or an I/O thread) woken by the guest's notification and by the PF's completion interrupt, and
/// the host storage stack (PF driver, host block layer, VMFS, the guest's virtual disk).
/// </summary>
internal abstract class SoftwarePath : IVirtualDiskCompletion
{
    protected readonly BenchHost B;
    protected readonly TimingParameters T;
    protected readonly VirtualMachine Vm;
    protected readonly LatencyBreakdown Breakdown;
    protected readonly CpuTimeline Vcpu;
    protected readonly VmmThread Thread;
    protected readonly HostStorageStack Stack;
    protected readonly GuestInterrupts Irq;
    readonly HostSegment[] _segments = new HostSegment[1024];

    protected SoftwarePath(PlatformModel model, PathOptions o, string threadName)
    {
        B = BenchHost.Boot(model, o);
        T = o.Timing;
        int depth = o.Workload.IoDepth;
        Vm = new VirtualMachine("vm0", B.RootComplex.HostMemory, B.CarveRam(o.GuestMemoryBytes), o.GuestMemoryBytes);
        Breakdown = new LatencyBreakdown(depth);
        Vcpu = new CpuTimeline(new SerialActor("vcpu0", isHostCpu: false), Breakdown);
        Thread = new VmmThread(B.Engine, new CpuTimeline(new SerialActor(threadName, isHostCpu: true), Breakdown)) { Handler = OnThreadWork };
        Stack = new HostStorageStack(B, o.VirtualDiskBytes, depth, this);
        Irq = new GuestInterrupts(B.Engine, Vm, T);
        // The PF's completion interrupt wakes the hypervisor thread, which reaps the host queue.
        byte pfVector = Stack.Layer.HostVector;
        ulong flight = T[TimingParameter.PostedWriteLatency];
        B.RootComplex.InterruptController.MessageReceived += m =>
        {
            if (m.Vector == pfVector) Thread.Schedule(VmmWork.HostCompletions, B.Engine.Now + flight);
        };
    }

    /// <summary>Looks at the guest's queue (after a doorbell or kick), on the hypervisor thread.</summary>
    protected abstract void ProcessGuestQueue();

    void OnThreadWork(CpuTimeline tl, VmmWork work)
    {
        Stack.Bus.Cpu = tl; // the host driver's doorbells are posted at this thread's time
        if (work == VmmWork.GuestQueue) ProcessGuestQueue();
        else Stack.Layer.Poll(Stack.Disk);
        Stack.Bus.Cpu = null;
    }

    /// <summary>
    /// On the hypervisor thread, for workload slot <paramref name="slot"/>: charges the device model's
    /// <paramref name="deviceModelNs"/>, the VMFS mapping and the host block stack, then submits the
    /// guest-physical <paramref name="segments"/> to the virtual disk. False when a segment is not guest RAM
    /// or the disk cannot take the request now.
    /// </summary>
    protected bool SubmitToDisk(int slot, ulong deviceModelNs, VirtualDiskOp op, ulong offset, int length,
        ReadOnlySpan<(ulong Gpa, int Length)> segments, long token)
    {
        var tl = Thread.Timeline;
        tl.ClearTargets();
        tl.AddTarget(slot);
        tl.Spend(IoComponent.DeviceModel, deviceModelNs);
        tl.Spend(IoComponent.Vmfs, T[TimingParameter.VmfsLayer]);
        tl.Spend(IoComponent.HostBlockStack, T[TimingParameter.HostBlockStack]);
        int n = 0;
        foreach (var (gpa, len) in segments)
        {
            int k = HostStorageStack.HostSegments(Vm, gpa, len, _segments.AsSpan(n));
            if (k < 0) { tl.ClearTargets(); return false; }
            n += k;
        }
        bool ok = Stack.Disk.TrySubmit(new VirtualDiskRequest(op, offset, length, _segments.AsSpan(0, n), token));
        tl.ClearTargets();
        return ok;
    }

    /// <inheritdoc/>
    public abstract void OnVirtualDiskComplete(long token, Devices.Nvme.NvmeStatus status);
}
