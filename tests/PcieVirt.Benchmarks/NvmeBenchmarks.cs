using BenchmarkDotNet.Attributes;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Benchmarks;

/// <summary>
/// One 4 KiB NVMe read through a controller on the fabric (root port → PF), processed synchronously on
/// the doorbell write: host writes the submission entry to RAM and the SQ tail doorbell through the root
/// complex; the controller fetches the entry by DMA, reads the in-memory namespace, DMAs 4 KiB to host RAM,
/// posts the completion and sends MSI-X to the interrupt controller; the host reaps the entry and writes
/// the CQ head doorbell. Compared with a plain 4 KiB memory copy in the same run. Logging is off.
/// </summary>
[MemoryDiagnoser]
public class NvmeBenchmarks
{
    readonly byte[] _src = new byte[4096], _dst = new byte[4096];
    NvmeDriver _driver = null!;
    NvmeQueuePair _queue = null!;
    NvmeSubmission _read;
    NvmeEndpointFunction _function = null!;
    RootComplex _rc = null!;
    ulong _sqTailDoorbell;
    readonly byte[] _tail = new byte[4], _head = new byte[4];
    int _deviceTail;
    NvmeQueuePair _deviceQueue = null!;

    [GlobalSetup]
    public void Setup()
    {
        _rc = new RootComplex(new RootComplexOptions { RamSize = 0x1000_0000 });
        var rp = new BridgeFunction("rp0", new FunctionIdentity { VendorId = 0x8086, DeviceId = 0x7000, ClassCode = 0x060400 }, BridgePortKind.RootPort);
        rp.AddCapability(new PciExpressCapability(new PciExpressOptions { PortType = PciePortType.RootPort }));
        rp.Seal();
        var port = _rc.AddRootPort(1, 0, rp);
        var subsystem = new NvmeSubsystem();
        var ns = new MemoryNamespaceBackend(1 << 16);
        subsystem.AddNamespace(1, ns);
        _function = new NvmeEndpointFunction("nvme0", new FunctionIdentity { VendorId = 0x1B36, DeviceId = 0x0010, ClassCode = NvmeEndpointFunction.RaidClassCode },
            new NvmeControllerOptions { ControllerId = 1 }, subsystem);
        _function.AddCapability(new PciExpressCapability(new PciExpressOptions()));
        _function.Seal();
        subsystem.Attach(1, 1);
        port.ConnectDevice(_function);
        if (!new FirmwareEnumerator(_rc).Enumerate().Succeeded) throw new InvalidOperationException("enumeration failed");
        var memory = new HostMemoryAllocator(_rc.HostMemory, 0x100_0000, 0x100_0000);
        _driver = new NvmeDriver(_rc, _function.Bdf, memory, new NvmeDriverOptions { IoQueuePairs = 2 });
        _driver.Initialize();
        _queue = _driver.IoQueue(1);
        ulong buffer = memory.Allocate(4096);
        ns.Poke(0, _src);
        _read = new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buffer, Cdw12 = 7 };
        _sqTailDoorbell = _driver.RegisterBase + (ulong)NvmeRegisters.DoorbellOffset(1, false, 0);
        for (int i = 0; i < 1000; i++) Read4KiBThroughController();

        // A second queue pair for the device-side benchmark: every SQ entry holds the same read.
        _deviceQueue = _driver.IoQueue(2);
        for (int i = 0; i < _deviceQueue.SqEntries; i++) _driver.Enqueue(_deviceQueue, _read);
        _deviceTail = 0;
        for (int i = 0; i < 1000; i++) DeviceSideRead4KiB();
    }

    [Benchmark(Baseline = true, Description = "4 KiB memory copy")]
    public void MemoryCopy4KiB() => _src.AsSpan().CopyTo(_dst);

    [Benchmark(Description = "4 KiB NVMe read: SQE + doorbell -> DMA -> CQE -> MSI-X -> reap + CQ doorbell")]
    public bool Read4KiBThroughController()
    {
        _driver.Submit(_queue, _read);
        return _driver.TryReap(_queue, out _);
    }

    [Benchmark(Description = "device side: SQ tail doorbell (fetch, read, DMA, CQE, MSI-X) + CQ head doorbell, no host work")]
    public void DeviceSideRead4KiB()
    {
        // The host-side costs (writing the entry, routing the MMIO write, reaping) are left out: the
        // doorbells go straight to the function's BAR handler, the entries were written once in setup.
        int size = _deviceQueue.SqEntries;
        _deviceTail = (_deviceTail + 1) % size;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(_tail, (uint)_deviceTail);
        _function.BarWrite(0, (ulong)NvmeRegisters.DoorbellOffset(2, false, 0), _tail);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(_head, (uint)(_deviceTail % _deviceQueue.CqEntries));
        _function.BarWrite(0, (ulong)NvmeRegisters.DoorbellOffset(2, true, 0), _head);
    }

    [Benchmark(Description = "MMIO doorbell write through the root complex (no new command)")]
    public CompletionStatus DoorbellOnly()
    {
        // Rewriting the current tail: a valid doorbell that makes nothing new visible.
        Span<byte> v = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(v, (uint)_queue.SqTail);
        return _rc.MemoryWrite(_sqTailDoorbell, v);
    }
}
