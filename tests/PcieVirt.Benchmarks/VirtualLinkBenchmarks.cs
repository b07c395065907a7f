using BenchmarkDotNet.Attributes;
using PcieVirt.Fabric.MultiRoot;

namespace PcieVirt.Benchmarks;

/// <summary>
/// Booking TLPs on an MR link's virtual links: credit wait, arbitration and the link share, per TLP and per
/// 4 KiB of posted writes (16 TLPs of 256 B), two VLs weighted 3:1 alternating. Must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class VirtualLinkBenchmarks
{
    MrVirtualLinks _links = null!;
    ulong _now;
    int _i;

    [GlobalSetup]
    public void Setup()
    {
        _links = new MrVirtualLinks("bench", new VirtualLinkOptions { LinkBytesPerNs = 14.5, MaxPayloadSize = 256 });
        _links.SetWeight(1, 3);
    }

    [Benchmark]
    public ulong SendTlp()
    {
        _now += 20;
        return _links.Upstream.Send(1 + (_i++ & 1), FcType.Posted, 256, _now);
    }

    [Benchmark]
    public ulong SendBurst4K()
    {
        _now += 300;
        return _links.Upstream.SendBurst(1 + (_i++ & 1), FcType.Posted, 4096, 256, _now, out _);
    }
}
