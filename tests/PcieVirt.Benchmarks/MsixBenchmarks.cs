using BenchmarkDotNet.Attributes;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Benchmarks;

/// <summary>
/// MSI-X interrupt delivery: Trigger on an enabled, unmasked vector to an upstream port that accepts and
/// discards the write, and a masked trigger that only sets the pending bit. Both must allocate 0 B.
/// </summary>
[MemoryDiagnoser]
public class MsixBenchmarks
{
    MsixCapability _msix = null!;
    EndpointFunction _function = null!;
    readonly byte[] _dword = new byte[4];

    sealed class NoOpUpstream : IUpstreamPort
    {
        public bool MemoryWrite(Bdf requester, ulong address, ReadOnlySpan<byte> data) => true;
        public bool MemoryRead(Bdf requester, ulong address, Span<byte> data) => true;
    }

    [GlobalSetup]
    public void Setup()
    {
        _msix = new MsixCapability(64, 0, 0x2000, 0, 0x3000);
        _function = new EndpointFunction("bench", new FunctionIdentity { VendorId = 0x1af4, DeviceId = 0x1000, ClassCode = 0x010400 });
        _function.DefineBar(new BarDefinition(0, BarKind.Memory64, 0x4000));
        _function.AddCapability(_msix);
        _function.Seal();
        _function.Upstream = new NoOpUpstream();
        _function.Config.Write(PciRegs.Command, 2, (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
        _function.Config.Write(_msix.Offset + 2, 2, 0x8000); // MSI-X Enable
        // Vector 0 unmasked and programmed; vector 1 stays masked.
        _function.BarWrite(0, 0x2000, [0x00, 0x00, 0xE0, 0xFE]);
        _function.BarWrite(0, 0x2008, [0x41, 0x00, 0x00, 0x00]);
        _function.BarWrite(0, 0x200C, [0x00, 0x00, 0x00, 0x00]);
    }

    [Benchmark(Baseline = true)]
    public bool TriggerDelivered() => _msix.Trigger(0);

    [Benchmark]
    public bool TriggerMaskedSetsPending() => _msix.Trigger(1);

    [Benchmark]
    public void TableDwordReadThroughBar() => _function.BarRead(0, 0x2008, _dword);
}
