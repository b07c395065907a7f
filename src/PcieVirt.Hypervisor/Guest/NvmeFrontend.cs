using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Hypervisor.Guest;

/// <summary>A driver's view of its function whose accesses cost virtual time on the CPU running the driver.</summary>
public interface ITimedHostBus : INvmeHostBus
{
    /// <summary>The CPU the driver runs on now; null during setup (accesses take effect at once, untimed).</summary>
    CpuTimeline? Cpu { get; set; }
}

/// <summary>
/// The OS's NVMe block driver as a workload frontend: the reference <see cref="NvmeDriver"/> on one I/O
/// queue, one data buffer (and PRP list) per slot prepared once, commands identified by their CID.
/// Whether a doorbell write is a posted write to hardware or a trapped access the hypervisor emulates
/// is up to the bus the driver was given.
/// </summary>
public sealed class NvmeFrontend : IBlockFrontend, INvmeCommandObserver
{
    readonly NvmeDriver _driver;
    readonly ITimedHostBus _bus;
    readonly NvmeQueuePair _q;
    readonly uint _nsid;
    readonly ulong[] _buffers;
    readonly NvmeDriver.PrpMapping[] _prps;
    readonly int[] _slotOfCid = new int[65536];
    LatencyBreakdown? _breakdown;
    ulong _firmwareNs;

    /// <summary>A frontend on <paramref name="driver"/> (initialised) for I/Os of up to <paramref name="ioBytes"/> bytes.</summary>
    public NvmeFrontend(string name, NvmeDriver driver, ITimedHostBus bus, int depth, int ioBytes, uint nsid = 0, int qid = 1)
    {
        Name = name;
        _driver = driver;
        _bus = bus;
        _q = driver.IoQueue(qid);
        if (nsid == 0)
        {
            if (driver.Namespaces.Count == 0) throw new ArgumentException($"{driver.Address} has no active namespace");
            nsid = driver.Namespaces.Keys.Min();
        }
        if (!driver.Namespaces.TryGetValue(nsid, out var ns)) throw new ArgumentException($"namespace {nsid} is not active on {driver.Address}");
        _nsid = nsid;
        BlockSize = ns.BlockSize;
        BlockCount = ns.Size;
        MaxDepth = Math.Min(_q.SqEntries, _q.CqEntries) - 1;
        if (depth > MaxDepth) throw new ArgumentException($"depth {depth} exceeds what queue {qid} holds ({MaxDepth})");
        _buffers = new ulong[depth];
        _prps = new NvmeDriver.PrpMapping[depth];
        for (int i = 0; i < depth; i++)
        {
            _buffers[i] = driver.Memory.Allocate((ulong)ioBytes, 4096);
            _prps[i] = driver.BuildPrps(_buffers[i], ioBytes);
        }
    }

    public string Name { get; }
    public int BlockSize { get; }
    public ulong BlockCount { get; }
    public IPhysicalMemory Memory => _driver.Memory.Memory;
    public int MaxDepth { get; }
    public ulong Buffer(int slot) => _buffers[slot];

    /// <summary>The workload slot of the command with <paramref name="commandId"/> (last one enqueued with it).</summary>
    public int SlotOf(ushort commandId) => _slotOfCid[commandId];

    /// <summary>The I/O queue the frontend submits to.</summary>
    public int QueueId => _q.Qid;

    public void Enqueue(CpuTimeline cpu, int slot, bool write, ulong lba, int blocks)
    {
        _bus.Cpu = cpu;
        var p = _prps[slot];
        ushort cid = _driver.Enqueue(_q, new NvmeSubmission
        {
            Opcode = write ? NvmeIoOpcode.Write : NvmeIoOpcode.Read, Nsid = _nsid, Prp1 = p.Prp1, Prp2 = p.Prp2,
            Cdw10 = (uint)lba, Cdw11 = (uint)(lba >> 32), Cdw12 = (uint)(blocks - 1),
        });
        _slotOfCid[cid] = slot;
    }

    public void Notify(CpuTimeline cpu)
    {
        _bus.Cpu = cpu;
        _driver.RingSqDoorbell(_q);
    }

    public bool TryReap(CpuTimeline cpu, out int slot, out bool success)
    {
        _bus.Cpu = cpu;
        if (!_driver.TryReap(_q, out var c))
        {
            slot = -1;
            success = false;
            return false;
        }
        slot = _slotOfCid[c.CommandId];
        success = c.Status.IsSuccess;
        return true;
    }

    public void AfterReap(CpuTimeline cpu) => OnAfterReap?.Invoke(cpu);

    public void Idle(CpuTimeline cpu) => OnIdle?.Invoke(cpu);

    /// <summary>What the OS does after handling completions (acknowledge the interrupt: EOI), per platform.</summary>
    public Action<CpuTimeline>? OnAfterReap { get; set; }

    /// <summary>What the CPU does when it goes idle waiting (a guest's HLT exit), per platform.</summary>
    public Action<CpuTimeline>? OnIdle { get; set; }

    /// <summary>
    /// Charges device-side time of this frontend's commands to <paramref name="breakdown"/> (link, firmware,
    /// media) from the controller's completion records: make this the executing controller's observer.
    /// <paramref name="firmwareNs"/> is the controller's per-command overhead.
    /// </summary>
    public void ChargeDeviceTime(LatencyBreakdown breakdown, ulong firmwareNs)
    {
        _breakdown = breakdown;
        _firmwareNs = firmwareNs;
    }

    void INvmeCommandObserver.OnCommandCompleted(in NvmeCommandRecord r)
    {
        if (_breakdown is not { } b || r.SqId != _q.Qid) return;
        int slot = _slotOfCid[r.CommandId];
        var time = DeviceTime.Of(r, _firmwareNs);
        time.Charge(b, slot);
        if (Trace is { } trace) time.Trace(trace, r, slot);
    }

    /// <summary>Where device-side steps are recorded (null: not recorded).</summary>
    public PathTrace? Trace { get; set; }
}
