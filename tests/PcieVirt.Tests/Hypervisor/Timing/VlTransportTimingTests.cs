using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Hypervisor.Timing;

namespace PcieVirt.Tests.Hypervisor.Timing;

public class VlTransportTimingTests
{
    static (PcieTransportTiming Plain, MrVirtualLinks Links) Setup()
    {
        var plain = new PcieTransportTiming(new TimingParameters());
        var links = new MrVirtualLinks("l", new VirtualLinkOptions { LinkBytesPerNs = plain.LinkBytesPerNs, MaxPayloadSize = 256 });
        return (plain, links);
    }

    [Test]
    public void On_an_idle_link_it_equals_the_plain_timing()
    {
        var (plain, links) = Setup();
        var a = new VlTransportTiming(plain, links, 1, 256, 64, () => 0);
        Assert.That(a.BeforeMediaNs(0, 2, 4096 + 64, 0), Is.EqualTo(plain.BeforeMediaNs(2, 4096 + 64, 0)));
        Assert.That(a.AfterMediaNs(1_000_000, 16), Is.EqualTo(plain.AfterMediaNs(16)));
    }

    [Test]
    public void A_busy_vl_of_another_vh_adds_queueing_by_the_weights()
    {
        var (plain, links) = Setup();
        links.SetWeight(1, 1);
        links.SetWeight(2, 3);
        var a = new VlTransportTiming(plain, links, 1, 256, 64, () => 0);
        var b = new VlTransportTiming(plain, links, 2, 256, 64, () => 0);
        Assert.That((a.VirtualLink, b.VirtualLink), Is.EqualTo((1, 2)));
        // B has a long write train on the link; A's 128 KiB of writes now get a quarter of it.
        for (int i = 0; i < 64; i++) b.AfterMediaNs(0, 128 * 1024);
        ulong alone = plain.AfterMediaNs(128 * 1024);
        ulong shared = a.AfterMediaNs(0, 128 * 1024);
        Assert.That((double)(shared - 280) / (alone - 280), Is.InRange(3.9, 4.1), "a quarter of the link: four times the wire time");
    }
}
