using PcieVirt.Devices.Nvme;
using PcieVirt.Hypervisor.Guest;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Storage;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Hypervisor.Virtio;
using PcieVirt.Hypervisor.Vmm;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Paths;

/// <summary>
/// Paravirtual: the guest's virtio-blk driver puts requests in a split ring in its memory and kicks once per
/// batch (event-index suppression); the hypervisor's backend (I/O) thread wakes, pops the chains, maps them
/// through the VMFS-like file system and submits them through the host block layer to the PF's queues. The PF's
/// interrupt wakes the backend, which completes the chains and injects the guest's interrupt unless the guest
/// suppressed it.
/// </summary>
internal sealed class ParavirtualPath : SoftwarePath, IVirtioBlkBackend
{
    const byte GuestVector = 0x41;
    readonly VirtioBlkRequest?[] _requests = new VirtioBlkRequest?[32768];
    readonly (ulong, int)[] _gpaSegments = new (ulong, int)[1024];
    VirtioFrontend? _fe;
    VirtioBlkDevice? _device;

    ParavirtualPath(PlatformModel model, PathOptions o) : base(model, o, "iothread") { }

    public static PathSession Open(PlatformModel model, PathOptions o) => new ParavirtualPath(model, o).Setup(o);

    PathSession Setup(PathOptions o)
    {
        int depth = o.Workload.IoDepth;
        int queueSize = 128;
        while (queueSize < 3 * depth) queueSize *= 2;
        var driver = new VirtioBlkGuestDriver(Vm.Allocator, queueSize, eventIdx: true);
        _fe = new VirtioFrontend(driver, Vm.Memory, Vm.Allocator, depth, o.Workload.BlockSize, Stack.File.Size, T,
            at => Thread.Schedule(VmmWork.GuestQueue, at))
        {
            OnAfterReap = Irq.Acknowledge,
            OnIdle = GuestInterrupts.Halt,
        };
        var w = new BlockWorkload(B.Engine, Vcpu, _fe, o.Workload, T);
        w.Progress = o.Progress;
        _device = new VirtioBlkDevice(Vm.Memory, driver.Queue.Addresses, driver.Features, Stack.File.Size / VirtioBlkLayout.SectorSize,
            "pcievirt-vm0-disk", this, () => Irq.Inject(w, Vcpu, GuestVector, Thread.Timeline.Cursor));
        Vcpu.Trace = Thread.Timeline.Trace = Stack.Trace = o.Trace;
        w.MeasurementStarted += () => { Vcpu.ResetCounters(); Thread.Timeline.ResetCounters(); o.Trace?.Clear(); };
        return new PathSession(PathKind.Paravirtual, B.Engine, w, Vcpu, [Thread.Timeline], () => new Dictionary<string, long>
        {
            ["kicks"] = _fe.Kicks,
            ["interrupts_sent"] = _device.InterruptsSent,
            ["interrupts_suppressed"] = _device.InterruptsSuppressed,
            ["iothread_runs"] = Thread.Runs,
            ["host_requests"] = Stack.Layer.Submitted,
        }, () => $"paravirtual run stalled: requests outstanding but nothing scheduled (device {_device.Status}, host layer in flight {Stack.Layer.InFlight})");
    }

    protected override void ProcessGuestQueue() => _device!.OnKick();

    public void Submit(VirtioBlkDevice device, VirtioBlkRequest request)
    {
        var data = request.DataSegments;
        for (int i = 0; i < data.Length; i++) _gpaSegments[i] = (data[i].Gpa, (int)data[i].Length);
        var op = request.Type switch
        {
            VirtioBlkRequestType.In => VirtualDiskOp.Read,
            VirtioBlkRequestType.Out => VirtualDiskOp.Write,
            _ => VirtualDiskOp.Flush,
        };
        ulong offset = op == VirtualDiskOp.Flush ? 0 : request.Sector * VirtioBlkLayout.SectorSize;
        _requests[request.Head] = request;
        if (!SubmitToDisk(_fe!.SlotOfHead(request.Head), T[TimingParameter.PvMainLoop], op, offset, (int)request.DataLength,
                _gpaSegments.AsSpan(0, data.Length), request.Head))
        {
            _requests[request.Head] = null;
            device.Complete(request, VirtioBlkStatus.IoErr);
        }
    }

    public override void OnVirtualDiskComplete(long token, NvmeStatus status)
    {
        var request = _requests[token] ?? throw new InvalidOperationException($"virtual disk completed unknown virtio head {token}");
        _requests[token] = null;
        Stack.ChargeCompletedCommand(Breakdown, _fe!.SlotOfHead(request.Head));
        _device!.Complete(request, status.IsSuccess ? VirtioBlkStatus.Ok : VirtioBlkStatus.IoErr);
    }
}
