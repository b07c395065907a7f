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
internal sealed class EmulatedPath : SoftwarePath, IAsyncNamespaceBackend
{
    readonly EmulatedNvmeDevice _dev;
    readonly (ulong, int)[] _gpaSegments = new (ulong, int)[1024];
    readonly int[] _slotByAsync = new int[65536];
    NvmeFrontend? _fe;

    EmulatedPath(PlatformModel model, PathOptions o) : base(model, o, "vmm") => _dev = new EmulatedNvmeDevice(Vm, T, this);

    public static PathSession Open(PlatformModel model, PathOptions o) => new EmulatedPath(model, o).Setup(o);

    PathSession Setup(PathOptions o)
    {
        var clock = B.RootComplex.Clock;
        _dev.Controller.Clock = () => clock.Now;
        var guestDriver = new NvmeDriver(_dev, Vm.Allocator, new NvmeDriverOptions
        {
            IoQueueEntries = Math.Max(64, o.Workload.IoDepth + 1),
            Clock = () => clock.Now,
            AdvanceClock = clock.Advance,
            Pump = () => _dev.Controller.ProcessPending(),
        });
        guestDriver.Initialize();
        _fe = new NvmeFrontend("emulated", guestDriver, _dev, o.Workload.IoDepth, o.Workload.BlockSize, nsid: 1)
        {
            OnAfterReap = Irq.Acknowledge,
            OnIdle = GuestInterrupts.Halt,
        };
        var w = new BlockWorkload(B.Engine, Vcpu, _fe, o.Workload, T);
        w.Progress = o.Progress;
        _dev.DoorbellRung = at => Thread.Schedule(VmmWork.GuestQueue, at);
        _dev.InterruptRaised = vector => Irq.Inject(w, Vcpu, vector, Thread.Timeline.Cursor);
        while (Vm.Apic.HasDeliverable) { Vm.Apic.Acknowledge(); Vm.Apic.Eoi(); } // bring-up interrupts, taken
        Vcpu.Trace = Thread.Timeline.Trace = Stack.Trace = o.Trace;
        w.MeasurementStarted += () => { Vcpu.ResetCounters(); Thread.Timeline.ResetCounters(); _dev.Emulator.ResetCounters(); o.Trace?.Clear(); };
        return new PathSession(PathKind.Emulated, B.Engine, w, Vcpu, [Thread.Timeline], () => new Dictionary<string, long>
        {
            ["mmio_exits"] = Vcpu.Exits(ExitReason.Mmio),
            ["instructions_emulated"] = _dev.Emulator.InstructionsEmulated,
            ["instructions_rejected"] = _dev.Emulator.InstructionsRejected,
            ["vmm_thread_runs"] = Thread.Runs,
            ["host_requests"] = Stack.Layer.Submitted,
            ["interrupts_injected"] = Irq.Delivered,
        }, () => $"emulated run stalled: requests outstanding but nothing scheduled (emulated controller: {_dev.Controller.AsyncCommandsPending} at the backend, fatal={_dev.Controller.IsFatal}; host layer in flight {Stack.Layer.InFlight})");
    }

    protected override void ProcessGuestQueue() => _dev.Controller.ProcessPending();

    // ------------------------------------------------------------------ the emulated controller's backend: the virtual disk

    public int BlockSize => Stack.Layer.BlockSize;
    public ulong BlockCount => Stack.File.Size / (ulong)Stack.Layer.BlockSize;

    public bool TryStart(in NvmeAsyncIo io, ReadOnlySpan<DmaSegment> segments)
    {
        int slot = _fe!.SlotOf(io.CommandId);
        _slotByAsync[io.Tag & 0xFFFF] = slot;
        for (int i = 0; i < segments.Length; i++) _gpaSegments[i] = (segments[i].Address, segments[i].Length);
        // The device model parses the command on the VMM's main loop, the file system maps it, the host's block layer takes it.
        return SubmitToDisk(slot, T[TimingParameter.EmulatedMainLoop], io.Write ? VirtualDiskOp.Write : VirtualDiskOp.Read,
            io.Lba * (ulong)BlockSize, io.Blocks * BlockSize, _gpaSegments.AsSpan(0, segments.Length), io.Tag);
    }

    public override void OnVirtualDiskComplete(long token, NvmeStatus status)
    {
        int slot = _slotByAsync[token & 0xFFFF];
        Stack.ChargeCompletedCommand(Breakdown, slot);
        _dev.Controller.CompleteAsync((int)token, status);
    }

    // Synchronous members: reads and writes go through TryStart; the rest are not used by the workload.
    public NvmeBackendResult Read(ulong lba, Span<byte> destination) => new(NvmeStatus.InternalError, 0);
    public NvmeBackendResult Write(ulong lba, ReadOnlySpan<byte> source) => new(NvmeStatus.InternalError, 0);
    public NvmeBackendResult Flush() => NvmeBackendResult.Ok();
    public NvmeBackendResult Deallocate(ulong lba, ulong blockCount) => new(NvmeStatus.InvalidFieldInCommand, 0);
    public NvmeBackendResult WriteZeroes(ulong lba, ulong blockCount) => new(NvmeStatus.InvalidFieldInCommand, 0);
}
