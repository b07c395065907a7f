using BenchmarkDotNet.Attributes;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;

namespace PcieVirt.Benchmarks;

/// <summary>
/// Host configuration accesses on the booted default platform (real capabilities, enumerated by the
/// firmware model), through the full path: ECAM address decode, Type 1 routing through a root port,
/// a switch upstream port and a downstream port, Type 0 delivery to the endpoint, and the register's
/// mask semantics. Logging is off (the Trace-enabled check is part of the path).
/// </summary>
[MemoryDiagnoser]
public class ConfigAccessBenchmarks
{
    RootComplex _rc = null!;
    ulong _vendorId, _interruptLine, _absent, _deviceControl;
    PciAddress _endpoint;

    [GlobalSetup]
    public void Setup()
    {
        var system = ModelFiles.Boot("default.json");
        _rc = system.Hosts[0].RootComplex;
        // The deepest endpoint: an NVMe drive behind root port → switch upstream → downstream port.
        PciAddress? deepest = null;
        foreach (var a in _rc.Functions())
            if (_rc.FindFunction(a.Bdf) is { IsBridge: false } && a.Bdf.Bus >= 4) { deepest = a; break; }
        _endpoint = deepest ?? throw new InvalidOperationException("no endpoint behind the switch");
        var bdf = _endpoint.Bdf;
        _vendorId = _rc.EcamAddress(bdf, PciRegs.VendorId);
        _interruptLine = _rc.EcamAddress(bdf, PciRegs.InterruptLine);
        _absent = _rc.EcamAddress(new Bdf(bdf.Bus, 0, 7), PciRegs.VendorId);
        var f = _rc.FindFunction(bdf)!;
        var exp = f.FindCapability<PcieVirt.Pci.Capabilities.PciExpressCapability>()!;
        _deviceControl = _rc.EcamAddress(bdf, exp.Offset + 8);
        if (_rc.EcamRead(_vendorId, 4, out uint id) != CompletionStatus.SuccessfulCompletion || id == 0xFFFF_FFFF)
            throw new InvalidOperationException("benchmark fabric is not routed");
    }

    [Benchmark(Description = "ECAM read32, endpoint behind RP + switch")]
    public uint EcamRead32()
    {
        _rc.EcamRead(_vendorId, 4, out uint v);
        return v;
    }

    [Benchmark(Description = "ECAM write32 (masked), Interrupt Line dword")]
    public CompletionStatus EcamWrite32() => _rc.EcamWrite(_interruptLine, 4, 0xFFFF_FF0B);

    [Benchmark(Description = "ECAM write16 (masked + capability observer), PCIe Device Control")]
    public CompletionStatus EcamWriteDeviceControl() => _rc.EcamWrite(_deviceControl, 2, 0x2810);

    [Benchmark(Description = "IConfigAccessor read16")]
    public uint AccessorRead16()
    {
        _rc.Read(_endpoint, PciRegs.DeviceId, 2, out uint v);
        return v;
    }

    [Benchmark(Description = "ECAM read32 of an absent function (UR)")]
    public uint EcamReadUnsupported()
    {
        _rc.EcamRead(_absent, 4, out uint v);
        return v;
    }
}
