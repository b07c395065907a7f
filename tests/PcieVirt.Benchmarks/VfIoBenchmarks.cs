using BenchmarkDotNet.Attributes;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Raid;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Benchmarks;

/// <summary>
/// One 4 KiB read through a VF of the default model's RAID controller (drives shrunk to 64 MiB): a RAID 5
/// volume over four NAND drives attached to VF1, VFs enabled by the host OS model, VF1 brought online by
/// the PF's Virtualization Management and driven through fabric-routed config and MMIO. From the SQ entry
/// and the tail doorbell write through the root complex to the MSI-X write reaching the interrupt
/// controller, then the reap and CQ head doorbell. Compared with a plain 4 KiB memory copy in the same run.
/// </summary>
[MemoryDiagnoser]
public class VfIoBenchmarks
{
    readonly byte[] _src = new byte[4096], _dst = new byte[4096];
    NvmeDriver _vf = null!;
    NvmeQueuePair _queue = null!;
    NvmeSubmission _read;

    [GlobalSetup]
    public void Setup()
    {
        string json = PlatformModel.ReadDefaultJson().Replace("\"driveSize\": \"1T\"", "\"driveSize\": \"64M\"");
        var system = PcieSystem.Boot(PlatformModel.Parse(json, "vf-bench").GetModelOrThrow());
        var host = system.Hosts[0];
        var pf = host.Os.PhysicalFunctions[0].Address;
        var device = host.FindRaidController(pf.Bdf) ?? throw new InvalidOperationException("no RAID controller");
        // The default model's vol0 is RAID 5 over d0..d3 on the PF: move it to VF 1.
        var vol = device.Engine.FindVolume("vol0") ?? throw new InvalidOperationException("default.json has no vol0");
        if (vol is not RaidVolume { Level: RaidLevel.Raid5 } || !device.Detach("vol0", 0).IsSuccess || !device.Attach("vol0", 1).IsSuccess)
            throw new InvalidOperationException("cannot move vol0 (RAID 5) to VF 1");
        uint nsid = device.NamespaceOf(vol);
        var memory = new HostMemoryAllocator(host.RootComplex.HostMemory, 0x1000_0000, 0x100_0000);
        var pfDriver = new NvmeDriver(host.RootComplex, pf.Bdf, memory, new NvmeDriverOptions { IoQueuePairs = 0 });
        pfDriver.Initialize();
        if (!host.Os.EnableVfs(pf, 1).Success) throw new InvalidOperationException("VF enable failed");
        ushort scid = RaidControllerDevice.VfControllerId(1);
        foreach (var (action, resource, count) in new[] { (8, 0, 2), (8, 1, 2), (9, 0, 0) })
        {
            var c = pfDriver.ExecuteAdmin(new NvmeSubmission
            {
                Opcode = NvmeAdminOpcode.VirtualizationManagement,
                Cdw10 = (uint)action | (uint)resource << 8 | (uint)scid << 16,
                Cdw11 = (uint)count,
            });
            if (!c.Status.IsSuccess) throw new InvalidOperationException($"virtualization management: {c.Status}");
        }
        var vfAddress = host.Os.FindPhysicalFunction(pf)!.VirtualFunctions[0].Address;
        _vf = new NvmeDriver(new PcieVirt.Platform.HostOs.OsHostBus(host, vfAddress), memory, new NvmeDriverOptions { FirstHostVector = 0x60 });
        _vf.Initialize();
        _queue = _vf.IoQueue(1);
        ulong buffer = memory.Allocate(4096);
        new Random(7).NextBytes(_src);
        host.RootComplex.HostMemory.Write(buffer, _src);
        if (!_vf.Write(nsid, 0, 8, buffer).Status.IsSuccess) throw new InvalidOperationException("write failed");
        _read = new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = nsid, Prp1 = buffer, Cdw12 = 7 };
        for (int i = 0; i < 1000; i++)
            if (!Read4KiBThroughVf()) throw new InvalidOperationException("no completion");
    }

    bool _ringFilled;
    int _tail, _cqBase, _completions;

    /// <summary>
    /// Exactly the span the issue names, "from doorbell write to MSI-X delivery": the SQ is filled once with
    /// the same read command, so each operation is one SQ tail doorbell write through the root complex and
    /// everything the device does for it (fetch, volume read, data DMA, CQE, MSI-X). The CQ head doorbell
    /// that frees the completion queue is written once per 32 operations (host work, amortized in).
    /// </summary>
    [Benchmark(Description = "4 KiB read via VF1 (RAID 5), device side: doorbell -> fetch -> volume -> DMA -> CQE -> MSI-X")]
    public void DoorbellToMsixThroughVf()
    {
        if (!_ringFilled)
        {
            for (int i = 0; i < _queue.SqEntries; i++) _vf.Enqueue(_queue, _read); // every slot holds the read; the device's head stays
            _tail = _queue.SqTail;
            _cqBase = _queue.CqHead;
            _ringFilled = true;
        }
        _tail = (_tail + 1) % _queue.SqEntries;
        _vf.WriteDoorbell(_queue.Qid, completion: false, (uint)_tail);
        if (++_completions % 32 == 0) _vf.WriteDoorbell(_queue.Qid, completion: true, (uint)((_cqBase + _completions) % _queue.CqEntries));
    }

    [Benchmark(Baseline = true, Description = "4 KiB memory copy")]
    public void MemoryCopy4KiB() => _src.AsSpan().CopyTo(_dst);

    [Benchmark(Description = "4 KiB read via VF1 (RAID 5): SQE + doorbell -> fetch -> volume -> DMA -> CQE -> MSI-X -> reap")]
    public bool Read4KiBThroughVf()
    {
        _vf.Submit(_queue, _read);
        return _vf.TryReap(_queue, out _);
    }
}
