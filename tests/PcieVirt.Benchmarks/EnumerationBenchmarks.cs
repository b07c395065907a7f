using BenchmarkDotNet.Attributes;
using PcieVirt.Platform;

namespace PcieVirt.Benchmarks;

/// <summary>
/// Firmware enumeration of devicemodels/fabric-4x8.json: 4 root ports, each with a switch of 8
/// downstream ports, each with a multi-function ARI endpoint (320 endpoint functions, 360 in all with
/// the ports), every function with its real capability list. Each run re-enumerates the same fabric
/// (the enumerator clears bus numbers itself, so every run does the full work: discovery, bus
/// numbering, BAR sizing, allocation, windows, Command bits).
/// </summary>
[MemoryDiagnoser]
public class EnumerationBenchmarks
{
    HostSystem _host = null!;

    [GlobalSetup]
    public void Setup()
    {
        _host = ModelFiles.Boot("fabric-4x8.json").Hosts[0];
        if (_host.Enumeration!.Functions.Count < 300)
            throw new InvalidOperationException($"fabric-4x8 has only {_host.Enumeration.Functions.Count} functions");
    }

    [Benchmark(Description = "Enumerate fabric-4x8 (4 switches x 8 ports, >= 300 functions)")]
    public int Enumerate() => _host.Enumerate().Functions.Count;

    [Benchmark(Description = "Build and boot fabric-4x8 from its JSON model")]
    public int BuildAndBoot() => ModelFiles.Boot("fabric-4x8.json").Hosts[0].Enumeration!.Functions.Count;
}
