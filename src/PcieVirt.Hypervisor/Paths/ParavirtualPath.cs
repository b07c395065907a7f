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
internal sealed class ParavirtualPath : IVirtioBlkBackend, IVirtualDiskCompletion
{
    const byte GuestVector = 0x41;
    readonly BenchHost _b;
    readonly TimingParameters _t;
    readonly VirtualMachine _vm;
    readonly LatencyBreakdown _breakdown;
    readonly CpuTimeline _vcpu;
    readonly VmmThread _io;
    readonly HostStorageStack _stack;
    readonly GuestInterrupts _irq;
    readonly HostSegment[] _segments = new HostSegment[1024];
    readonly VirtioBlkRequest?[] _requests = new VirtioBlkRequest?[32768];
    VirtioFrontend? _fe;
    VirtioBlkDevice? _device;

    ParavirtualPath(PlatformModel model, PathOptions o)
    {
        _b = BenchHost.Boot(model, o);
        _t = o.Timing;
        int depth = o.Workload.IoDepth;
        _vm = new VirtualMachine("vm0", _b.RootComplex.HostMemory, _b.CarveRam(o.GuestMemoryBytes), o.GuestMemoryBytes);
        _breakdown = new LatencyBreakdown(depth);
        _vcpu = new CpuTimeline(new SerialActor("vcpu0", isHostCpu: false), _breakdown);
        _io = new VmmThread(_b.Engine, new CpuTimeline(new SerialActor("iothread", isHostCpu: true), _breakdown)) { Handler = OnIoThreadWork };
        _stack = new HostStorageStack(_b, o.VirtualDiskBytes, depth, this);
        _irq = new GuestInterrupts(_b.Engine, _vm, _t);
    }

    public static PathSession Open(PlatformModel model, PathOptions o) => new ParavirtualPath(model, o).Setup(o);

    PathSession Setup(PathOptions o)
    {
        int depth = o.Workload.IoDepth;
        int queueSize = 128;
        while (queueSize < 3 * depth) queueSize *= 2;
        var driver = new VirtioBlkGuestDriver(_vm.Allocator, queueSize, eventIdx: true);
        _fe = new VirtioFrontend(driver, _vm.Memory, _vm.Allocator, depth, o.Workload.BlockSize, _stack.File.Size, _t,
            at => _io.Schedule(VmmWork.GuestQueue, at))
        {
            OnAfterReap = _irq.Acknowledge,
            OnIdle = GuestInterrupts.Halt,
        };
        var w = new BlockWorkload(_b.Engine, _vcpu, _fe, o.Workload, _t);
        w.Progress = o.Progress;
        _device = new VirtioBlkDevice(_vm.Memory, driver.Queue.Addresses, driver.Features, _stack.File.Size / VirtioBlkLayout.SectorSize,
            "pcievirt-vm0-disk", this, () => _irq.Inject(w, _vcpu, GuestVector, _io.Timeline.Cursor));
        byte pfVector = _stack.Layer.HostVector;
        ulong flight = _t[TimingParameter.PostedWriteLatency];
        _b.RootComplex.InterruptController.MessageReceived += m =>
        {
            if (m.Vector == pfVector) _io.Schedule(VmmWork.HostCompletions, _b.Engine.Now + flight);
        };
        _vcpu.Trace = _io.Timeline.Trace = _stack.Trace = o.Trace;
        w.MeasurementStarted += () => { _vcpu.ResetCounters(); _io.Timeline.ResetCounters(); o.Trace?.Clear(); };
        return new PathSession(PathKind.Paravirtual, _b.Engine, w, _vcpu, [_io.Timeline], () => new Dictionary<string, long>
        {
            ["kicks"] = _fe.Kicks,
            ["interrupts_sent"] = _device.InterruptsSent,
            ["interrupts_suppressed"] = _device.InterruptsSuppressed,
            ["iothread_runs"] = _io.Runs,
            ["host_requests"] = _stack.Layer.Submitted,
        }, () => $"paravirtual run stalled: requests outstanding but nothing scheduled (device {_device.Status}, host layer in flight {_stack.Layer.InFlight})");
    }

    void OnIoThreadWork(CpuTimeline tl, VmmWork work)
    {
        _stack.Bus.Cpu = tl;
        if (work == VmmWork.GuestQueue) _device!.OnKick();
        else _stack.Layer.Poll(_stack.Disk);
        _stack.Bus.Cpu = null;
    }

    public void Submit(VirtioBlkDevice device, VirtioBlkRequest request)
    {
        var tl = _io.Timeline;
        int slot = _fe!.SlotOfHead(request.Head);
        tl.ClearTargets();
        tl.AddTarget(slot);
        tl.Spend(IoComponent.DeviceModel, _t[TimingParameter.PvMainLoop]);
        tl.Spend(IoComponent.Vmfs, _t[TimingParameter.VmfsLayer]);
        tl.Spend(IoComponent.HostBlockStack, _t[TimingParameter.HostBlockStack]);
        int n = 0;
        foreach (var s in request.DataSegments)
        {
            int k = HostStorageStack.HostSegments(_vm, s.Gpa, (int)s.Length, _segments.AsSpan(n));
            if (k < 0) { tl.ClearTargets(); device.Complete(request, VirtioBlkStatus.IoErr); return; }
            n += k;
        }
        var op = request.Type switch
        {
            VirtioBlkRequestType.In => VirtualDiskOp.Read,
            VirtioBlkRequestType.Out => VirtualDiskOp.Write,
            _ => VirtualDiskOp.Flush,
        };
        _requests[request.Head] = request;
        ulong offset = request.Sector * VirtioBlkLayout.SectorSize;
        if (!_stack.Disk.TrySubmit(new VirtualDiskRequest(op, op == VirtualDiskOp.Flush ? 0 : offset, (int)request.DataLength, _segments.AsSpan(0, n), request.Head)))
        {
            _requests[request.Head] = null;
            device.Complete(request, VirtioBlkStatus.IoErr);
        }
        tl.ClearTargets();
    }

    public void OnVirtualDiskComplete(long token, NvmeStatus status)
    {
        var request = _requests[token] ?? throw new InvalidOperationException($"virtual disk completed unknown virtio head {token}");
        _requests[token] = null;
        _stack.ChargeCompletedCommand(_breakdown, _fe!.SlotOfHead(request.Head));
        _device!.Complete(request, status.IsSuccess ? VirtioBlkStatus.Ok : VirtioBlkStatus.IoErr);
    }
}
