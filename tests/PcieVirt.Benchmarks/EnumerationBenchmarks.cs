using BenchmarkDotNet.Attributes;
using PcieVirt.Fabric;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Benchmarks;

/// <summary>
/// Firmware enumeration of 4 root ports, each with a switch of 8 downstream ports, each with an
/// 8-function endpoint (BAR0 32-bit 16 KiB, BAR2 64-bit prefetchable 1 MiB), plus a fifth root port
/// with one more 8-function endpoint: 305 functions. Each run re-enumerates the same fabric (the
/// enumerator clears bus numbers itself, so every run does the full work).
/// </summary>
[MemoryDiagnoser]
public class EnumerationBenchmarks
{
    RootComplex _rc = null!;
    FirmwareEnumerator _enumerator = null!;

    [GlobalSetup]
    public void Setup()
    {
        _rc = new RootComplex(new RootComplexOptions { Name = "bench" });
        for (int r = 0; r < 5; r++)
        {
            var rp = _rc.AddRootPort(1 + r, 0, BenchFabric.Bridge($"rp{r}", BridgePortKind.RootPort));
            if (r == 4)
            {
                rp.ConnectDevice(Device($"rp{r}"));
                continue;
            }
            var sw = rp.ConnectSwitch(BenchFabric.Bridge($"usp{r}", BridgePortKind.SwitchUpstreamPort));
            for (int d = 0; d < 8; d++)
                sw.AddDownstreamPort(d, 0, BenchFabric.Bridge($"dsp{r}.{d}", BridgePortKind.SwitchDownstreamPort))
                    .ConnectDevice(Device($"ep{r}.{d}"));
        }
        _enumerator = new FirmwareEnumerator(_rc);
        var report = _enumerator.Enumerate();
        if (!report.Succeeded || report.Functions.Count != 305)
            throw new InvalidOperationException($"benchmark fabric: {report.Functions.Count} functions, failures: {string.Join("; ", report.Failures)}");
    }

    static PciFunction[] Device(string name)
    {
        var fns = new PciFunction[8];
        for (int i = 0; i < 8; i++)
            fns[i] = BenchFabric.Endpoint($"{name}.{i}", (ushort)(0x2000 + i),
                new BarDefinition(0, BarKind.Memory32, 0x4000),
                new BarDefinition(2, BarKind.Memory64, 0x10_0000, Prefetchable: true));
        return fns;
    }

    [Benchmark(Description = "Enumerate 305 functions (4 switches x 8 ports)")]
    public int Enumerate() => _enumerator.Enumerate().Functions.Count;
}
