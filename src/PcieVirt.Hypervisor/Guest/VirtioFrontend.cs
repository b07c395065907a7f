using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Hypervisor.Virtio;

namespace PcieVirt.Hypervisor.Guest;

/// <summary>
/// The guest OS's virtio-blk driver as a workload frontend: requests are descriptor chains written into the
/// split ring in guest memory (no exit); a batch is published with one avail index write and kicks the device
/// only when the event index says the backend is not already looking (a kick is an exit the hypervisor
/// handles in the kernel, without decoding, and it wakes the backend thread).
/// </summary>
public sealed class VirtioFrontend : IBlockFrontend
{
    readonly VirtioBlkGuestDriver _driver;
    readonly TimingParameters _t;
    readonly ulong[] _buffers;
    readonly int[] _slotOfHead = new int[32768];

    /// <summary>A frontend on <paramref name="driver"/> for a disk of <paramref name="capacityBytes"/>; <paramref name="kick"/> gets the time the backend should wake.</summary>
    public VirtioFrontend(VirtioBlkGuestDriver driver, IPhysicalMemory memory, Devices.Driver.HostMemoryAllocator allocator, int depth, int ioBytes,
        ulong capacityBytes, TimingParameters timing, Action<ulong> kick)
    {
        _driver = driver;
        _t = timing;
        Memory = memory;
        Kick = kick;
        BlockCount = capacityBytes / VirtioBlkLayout.SectorSize;
        MaxDepth = driver.Queue.FreeCount / 3; // header, data, status: three descriptors a request
        if (depth > MaxDepth) throw new ArgumentException($"depth {depth} exceeds what the virtqueue holds ({MaxDepth})");
        _buffers = new ulong[depth];
        for (int i = 0; i < depth; i++) _buffers[i] = allocator.Allocate((ulong)ioBytes, 4096);
    }

    public string Name => "virtio-blk";
    public int BlockSize => VirtioBlkLayout.SectorSize;
    public ulong BlockCount { get; }
    public IPhysicalMemory Memory { get; }
    public int MaxDepth { get; }
    /// <summary>Where a kick goes (the hypervisor wakes its backend at the given time).</summary>
    public Action<ulong> Kick { get; }
    /// <summary>Kicks sent.</summary>
    public long Kicks { get; private set; }
    /// <summary>What the guest does after taking completions (EOI), per platform.</summary>
    public Action<CpuTimeline>? OnAfterReap { get; set; }
    /// <summary>What the vCPU does when idle (HLT).</summary>
    public Action<CpuTimeline>? OnIdle { get; set; }

    public ulong Buffer(int slot) => _buffers[slot];

    /// <summary>The workload slot of the request whose chain starts at descriptor <paramref name="head"/> (for the accounting).</summary>
    public int SlotOfHead(ushort head) => _slotOfHead[head];

    public void Enqueue(CpuTimeline cpu, int slot, bool write, ulong lba, int blocks)
    {
        int head = _driver.Queue.NextHead;
        var type = write ? VirtioBlkRequestType.Out : VirtioBlkRequestType.In;
        if (head < 0 || !_driver.TrySubmit(type, lba, _buffers[slot], blocks * BlockSize, slot))
            throw new InvalidOperationException("virtqueue full: the workload keeps more requests than the ring holds");
        _slotOfHead[head] = slot;
    }

    public void Notify(CpuTimeline cpu)
    {
        if (!_driver.PublishBatch()) return; // event index: the backend will see the batch without being told
        Kicks++;
        cpu.CountExit(ExitReason.Kick);
        cpu.Spend(IoComponent.Kick, _t[TimingParameter.KickExit], hostCpu: true);
        ulong wake = _t[TimingParameter.BackendWakeup];
        cpu.ChargeOnly(IoComponent.BackendWakeup, wake);
        Kick(cpu.Cursor + wake);
    }

    public bool TryReap(CpuTimeline cpu, out int slot, out bool success)
    {
        if (!_driver.TryComplete(out long token, out byte status))
        {
            slot = -1;
            success = false;
            return false;
        }
        slot = (int)token;
        success = status == VirtioBlkStatus.Ok;
        return true;
    }

    public void AfterReap(CpuTimeline cpu) => OnAfterReap?.Invoke(cpu);
    public void Idle(CpuTimeline cpu) => OnIdle?.Invoke(cpu);
}
