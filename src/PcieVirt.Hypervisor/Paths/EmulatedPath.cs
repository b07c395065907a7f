using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Storage;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Hypervisor.Vmm;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>
/// Full emulation: the guest's NVMe driver drives an emulated controller whose every register access exits
/// (EPT violation) and is decoded with Iced and emulated; on a doorbell the VMM thread processes the guest's
/// queue, maps each request through the VMFS-like file system holding the guest's virtual disk, and submits it
/// through the host block layer to the PF's queues. The PF's interrupt wakes the VMM thread, which posts the
/// guest's completion and injects the virtual interrupt; the guest's CQ head doorbell exits again.
/// </summary>
internal sealed class EmulatedPath : IAsyncNamespaceBackend, IVirtualDiskCompletion
{
    readonly BenchHost _b;
    readonly TimingParameters _t;
    readonly VirtualMachine _vm;
    readonly LatencyBreakdown _breakdown;
    readonly CpuTimeline _vcpu;
    readonly VmmThread _vmm;
    readonly HostStorageStack _stack;
    readonly EmulatedNvmeDevice _dev;
    readonly GuestInterrupts _irq;
    readonly HostSegment[] _segments = new HostSegment[1024];
    readonly int[] _slotByAsync = new int[65536];
    NvmeFrontend? _fe;
    BlockWorkload? _w;

    EmulatedPath(PlatformModel model, PathOptions o)
    {
        _b = BenchHost.Boot(model, o);
        _t = o.Timing;
        int depth = o.Workload.IoDepth;
        _vm = new VirtualMachine("vm0", _b.RootComplex.HostMemory, _b.CarveRam(o.GuestMemoryBytes), o.GuestMemoryBytes);
        _breakdown = new LatencyBreakdown(depth);
        _vcpu = new CpuTimeline(new SerialActor("vcpu0", isHostCpu: false), _breakdown);
        _vmm = new VmmThread(_b.Engine, new CpuTimeline(new SerialActor("vmm", isHostCpu: true), _breakdown)) { Handler = OnVmmWork };
        _stack = new HostStorageStack(_b, o.VirtualDiskBytes, depth, this);
        _dev = new EmulatedNvmeDevice(_vm, _t, this);
        _irq = new GuestInterrupts(_b.Engine, _vm, _t);
    }

    public static PathSession Open(PlatformModel model, PathOptions o) => new EmulatedPath(model, o).Setup(o);

    PathSession Setup(PathOptions o)
    {
        var clock = _b.RootComplex.Clock;
        _dev.Controller.Clock = () => clock.Now;
        var guestDriver = new NvmeDriver(_dev, _vm.Allocator, new NvmeDriverOptions
        {
            IoQueueEntries = Math.Max(64, o.Workload.IoDepth + 1),
            Clock = () => clock.Now,
            AdvanceClock = clock.Advance,
            Pump = () => _dev.Controller.ProcessPending(),
        });
        guestDriver.Initialize();
        _fe = new NvmeFrontend("emulated", guestDriver, _dev, o.Workload.IoDepth, o.Workload.BlockSize, nsid: 1)
        {
            OnAfterReap = _irq.Acknowledge,
            OnIdle = GuestInterrupts.Halt,
        };
        var w = _w = new BlockWorkload(_b.Engine, _vcpu, _fe, o.Workload, _t);
        w.Progress = o.Progress;
        _dev.DoorbellRung = at => _vmm.Schedule(VmmWork.GuestQueue, at);
        _dev.InterruptRaised = vector => _irq.Inject(w, _vcpu, vector, _vmm.Timeline.Cursor);
        byte pfVector = _stack.Layer.HostVector;
        ulong flight = _t[TimingParameter.PostedWriteLatency];
        _b.RootComplex.InterruptController.MessageReceived += m =>
        {
            if (m.Vector == pfVector) _vmm.Schedule(VmmWork.HostCompletions, _b.Engine.Now + flight);
        };
        while (_vm.Apic.HasDeliverable) { _vm.Apic.Acknowledge(); _vm.Apic.Eoi(); } // bring-up interrupts, taken
        _vcpu.Trace = _vmm.Timeline.Trace = _stack.Trace = o.Trace;
        w.MeasurementStarted += () => { _vcpu.ResetCounters(); _vmm.Timeline.ResetCounters(); _dev.Emulator.ResetCounters(); o.Trace?.Clear(); };
        return new PathSession(PathKind.Emulated, _b.Engine, w, _vcpu, [_vmm.Timeline], () => new Dictionary<string, long>
        {
            ["mmio_exits"] = _vcpu.Exits(ExitReason.Mmio),
            ["instructions_emulated"] = _dev.Emulator.InstructionsEmulated,
            ["instructions_rejected"] = _dev.Emulator.InstructionsRejected,
            ["vmm_thread_runs"] = _vmm.Runs,
            ["host_requests"] = _stack.Layer.Submitted,
            ["interrupts_injected"] = _irq.Delivered,
        }, () => $"emulated run stalled: requests outstanding but nothing scheduled (emulated controller: {_dev.Controller.AsyncCommandsPending} at the backend, fatal={_dev.Controller.IsFatal}; host layer in flight {_stack.Layer.InFlight})");
    }

    void OnVmmWork(CpuTimeline tl, VmmWork work)
    {
        _stack.Bus.Cpu = tl;
        if (work == VmmWork.GuestQueue) _dev.Controller.ProcessPending();
        else _stack.Layer.Poll(_stack.Disk);
        _stack.Bus.Cpu = null;
    }

    // ------------------------------------------------------------------ the emulated controller's backend: the virtual disk

    public int BlockSize => _stack.Layer.BlockSize;
    public ulong BlockCount => _stack.File.Size / (ulong)_stack.Layer.BlockSize;

    public bool TryStart(in NvmeAsyncIo io, ReadOnlySpan<DmaSegment> segments)
    {
        var tl = _vmm.Timeline;
        int slot = _fe!.SlotOf(io.CommandId);
        _slotByAsync[io.Tag & 0xFFFF] = slot;
        tl.ClearTargets();
        tl.AddTarget(slot);
        // The device model parses the command on the VMM's main loop, the file system maps it, the host's block layer takes it.
        tl.Spend(IoComponent.DeviceModel, _t[TimingParameter.EmulatedMainLoop]);
        tl.Spend(IoComponent.Vmfs, _t[TimingParameter.VmfsLayer]);
        tl.Spend(IoComponent.HostBlockStack, _t[TimingParameter.HostBlockStack]);
        int n = 0;
        foreach (var s in segments)
        {
            int k = HostStorageStack.HostSegments(_vm, s.Address, s.Length, _segments.AsSpan(n));
            if (k < 0) { tl.ClearTargets(); return false; }
            n += k;
        }
        var op = io.Write ? VirtualDiskOp.Write : VirtualDiskOp.Read;
        bool ok = _stack.Disk.TrySubmit(new VirtualDiskRequest(op, io.Lba * (ulong)BlockSize, io.Blocks * BlockSize, _segments.AsSpan(0, n), io.Tag));
        tl.ClearTargets();
        return ok;
    }

    public void OnVirtualDiskComplete(long token, NvmeStatus status)
    {
        int slot = _slotByAsync[token & 0xFFFF];
        _stack.ChargeCompletedCommand(_breakdown, slot);
        _dev.Controller.CompleteAsync((int)token, status);
    }

    // Synchronous members: reads and writes go through TryStart; the rest are not used by the workload.
    public NvmeBackendResult Read(ulong lba, Span<byte> destination) => new(NvmeStatus.InternalError, 0);
    public NvmeBackendResult Write(ulong lba, ReadOnlySpan<byte> source) => new(NvmeStatus.InternalError, 0);
    public NvmeBackendResult Flush() => NvmeBackendResult.Ok();
    public NvmeBackendResult Deallocate(ulong lba, ulong blockCount) => new(NvmeStatus.InvalidFieldInCommand, 0);
    public NvmeBackendResult WriteZeroes(ulong lba, ulong blockCount) => new(NvmeStatus.InvalidFieldInCommand, 0);
}
