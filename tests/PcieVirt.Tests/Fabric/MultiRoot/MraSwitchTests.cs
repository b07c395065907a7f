using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Tests.Support;
using static PcieVirt.Tests.Fabric.MultiRoot.MraTopology;

namespace PcieVirt.Tests.Fabric.MultiRoot;

public class MraSwitchTests
{
    static ulong Bar0(PcieVirt.Pci.Functions.PciFunction f) =>
        (f.Config.Read32(PciRegs.Bar0) & ~0xFul) | (ulong)f.Config.Read32(PciRegs.Bar0 + 4) << 32;

    [Test]
    public void Each_host_enumerates_its_own_virtual_switch_with_independent_buses_and_bars()
    {
        var t = new MraTopology().Boot();

        // Each host sees an ordinary switch: Type 1 upstream port (port type 5h) and downstream ports (6h) with slots.
        foreach (var vh in new[] { t.Vh1, t.Vh2 })
        {
            var usp = vh.VirtualSwitch.UpstreamPort;
            Assert.That(Read(vh.RootComplex, usp.Bdf, PciRegs.HeaderType & ~3, out uint hdr), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
            Assert.That((hdr >> 16) & 0x7F, Is.EqualTo(1), "upstream port header type 1");
            Assert.That(usp.FindCapability<PciExpressCapability>()!.PortType, Is.EqualTo(PciePortType.SwitchUpstreamPort));
            Assert.That(vh.VirtualDownstreamPorts, Has.Count.EqualTo(4));
            Assert.That(vh.VirtualDownstreamPorts.All(p => p.Function.FindCapability<PciExpressCapability>()!.SlotImplemented));
        }

        // The same device's PFs sit at different bus numbers and at BARs from each host's own apertures.
        Assert.That(t.Pf0.Bdf, Is.Not.EqualTo(t.Pf1.Bdf));
        // Depth-first numbering: host1 root port → bus 1 (upstream port), internal bus 2, vdsp0's link bus 3;
        // host2's first root port takes bus 1, so its virtual switch is at 2, internal bus 3, vdsp0's link bus 4.
        Assert.That(t.Pf0.Bdf, Is.EqualTo(new Bdf(3, 0, 0)));
        Assert.That(t.Pf1.Bdf, Is.EqualTo(new Bdf(4, 0, 0)));
        Assert.That(t.Host1.Options.Mmio64.Contains(Bar0(t.Pf0)) || t.Host1.Options.Mmio32.Contains(Bar0(t.Pf0)), $"PF0 BAR 0x{Bar0(t.Pf0):x} in host1's apertures");
        Assert.That(t.Host2.Options.Mmio64.Contains(Bar0(t.Pf1)) || t.Host2.Options.Mmio32.Contains(Bar0(t.Pf1)), $"PF1 BAR 0x{Bar0(t.Pf1):x} in host2's apertures");

        // Each host finds exactly one PF of the device: its own.
        var h1 = t.Host1.Functions().Select(a => t.Host1.FindFunction(a.Bdf)).ToList();
        var h2 = t.Host2.Functions().Select(a => t.Host2.FindFunction(a.Bdf)).ToList();
        Assert.That(h1, Does.Contain(t.Pf0).And.Not.Contain(t.Pf1).And.Not.Contain(t.Bf));
        Assert.That(h2, Does.Contain(t.Pf1).And.Not.Contain(t.Pf0).And.Not.Contain(t.Bf));
    }
}

public class MraTaggingAndIsolationTests
{
    [Test]
    public void Base_function_answers_only_in_the_management_vh()
    {
        var t = new MraTopology().Boot();
        // From VH0 the BF's MR-IOV capability (ID 0011h) is found and holds the PF→VH table.
        var found = t.Manager.Discover();
        Assert.That(found, Has.Count.EqualTo(1));
        Assert.That(found[0].PfToVh, Is.EqualTo(new int?[] { t.Vh1.Id, t.Vh2.Id }));
        Assert.That(t.Mgmt.FindFunction(t.Bf.Bdf), Is.SameAs(t.Bf));

        // From a host VH, every function number on the device link other than its PF completes UR, and
        // no bus of the host reaches the BF.
        foreach (var (rc, pf) in new[] { (t.Host1, t.Pf0), (t.Host2, t.Pf1) })
        {
            for (int fn = 1; fn < 8; fn++)
                Assert.That(Read(rc, new Bdf(pf.Bdf.Bus, 0, fn), 0, out uint v), Is.EqualTo(CompletionStatus.UnsupportedRequest), $"{rc.Name} fn {fn}");
            Assert.That(rc.AttachedFunctions, Does.Not.Contain(t.Bf));
            Assert.That(Read(rc, t.Bf.Bdf, 0, out uint id) == CompletionStatus.UnsupportedRequest || rc.FindFunction(t.Bf.Bdf) != t.Bf);
        }
    }

    [Test]
    public void Config_tlps_are_counted_untagged_on_the_host_link_and_with_the_device_links_own_tag()
    {
        var t = new MraTopology().Boot();
        var link = t.DevicePort.Link;
        // PF1 (VH2) was bound first: VH2 carries tag 1 on the device link, VH1 tag 2 — re-tagged, not the internal number.
        Assert.That(link.TagOf(t.Vh2.Id), Is.EqualTo(1));
        Assert.That(link.TagOf(t.Vh1.Id), Is.EqualTo(2));
        Assert.That(link.TagOf(0), Is.EqualTo(0));

        for (int i = 0; i < 3; i++) Read(t.Host1, t.Pf0.Bdf, 0, out _);
        Assert.That(t.Host1.Write(new PciAddress(0, t.Pf0.Bdf), PciRegs.Command, 2, 0x6), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Read(t.Host2, t.Pf1.Bdf, 0, out _);
        Read(t.Mgmt, t.Bf.Bdf, 0, out _);
        // A request to the virtual switch's own upstream port crosses the host link only.
        Read(t.Host1, t.Vh1.VirtualSwitch.UpstreamPort.Bdf, 0, out _);

        Assert.That(t.Vh1.HostLink.IsTagged, Is.False);
        Assert.That(t.Vh1.HostLink.Count(MrTlpKind.CfgRd), Is.EqualTo(4));
        Assert.That(t.Vh1.HostLink.Count(MrTlpKind.CfgWr), Is.EqualTo(1));
        Assert.That(t.Vh2.HostLink.Count(MrTlpKind.CfgRd), Is.EqualTo(1));
        Assert.That(link.Count(2, MrTlpKind.CfgRd), Is.EqualTo(3));
        Assert.That(link.Count(2, MrTlpKind.CfgWr), Is.EqualTo(1));
        Assert.That(link.Count(1, MrTlpKind.CfgRd), Is.EqualTo(1));
        Assert.That(link.Count(0, MrTlpKind.CfgRd), Is.EqualTo(1));
        Assert.That(link.Count(MrTlpKind.CfgRd), Is.EqualTo(5));
    }

    [Test]
    public void Trace_line_shows_the_mr_iov_prefix_on_the_device_link()
    {
        var rec = new RecordingLogger();
        using var factory = RecordingLogger.Factory(rec, LogLevel.Trace);
        var t = new MraTopology(factory).Boot();
        rec.Entries.Clear();
        Read(t.Host2, t.Pf1.Bdf, 0, out _);
        var line = rec.Entries.Single(e => e.EventId == 1400).Message;
        // Byte 0 = 80h: Fmt 100b (prefix), Type 0 0000b (local, L0 = MR-IOV); VH tag 1 in byte 1 (our reading).
        Assert.That(line, Does.Contain("MR-IOV prefix 80010000").And.Contain("switch VH 2").And.Contain("CfgRd"));
    }

    [Test]
    public void A_pfs_dma_and_msi_reach_only_its_own_vhs_root_complex()
    {
        var t = new MraTopology().Boot();
        byte[] data = [1, 2, 3, 4, 5, 6, 7, 8];
        const ulong addr = 0x10_0000;
        Assert.That(t.Pf0.Upstream!.MemoryWrite(t.Pf0.Bdf, addr, data), Is.True);
        var seen1 = new byte[8];
        var seen2 = new byte[8];
        t.Host1.HostMemory.Read(addr, seen1);
        t.Host2.HostMemory.Read(addr, seen2);
        Assert.That(seen1, Is.EqualTo(data));
        Assert.That(seen2, Is.All.EqualTo(0));

        Assert.That(t.Pf0.Upstream!.MemoryWrite(t.Pf0.Bdf, InterruptController.MsiBase, BitConverter.GetBytes(0x41u)), Is.True);
        Assert.That(t.Host1.InterruptController.TotalMessages, Is.EqualTo(1));
        Assert.That(t.Host2.InterruptController.TotalMessages, Is.EqualTo(0));
        Assert.That(t.Mgmt.InterruptController.TotalMessages, Is.EqualTo(0));

        var read = new byte[8];
        Assert.That(t.Pf0.Upstream!.MemoryRead(t.Pf0.Bdf, addr, read), Is.True);
        Assert.That(read, Is.EqualTo(data));
        var link = t.DevicePort.Link;
        Assert.That((link.Count(2, MrTlpKind.MWr), link.Count(2, MrTlpKind.Msi), link.Count(2, MrTlpKind.MRd)), Is.EqualTo((1L, 1L, 1L)));
        Assert.That(link.Count(1, MrTlpKind.MWr) + link.Count(1, MrTlpKind.Msi), Is.Zero);
        Assert.That(t.Vh1.HostLink.Count(MrTlpKind.MWr), Is.EqualTo(1));
        Assert.That(t.Vh2.HostLink.Count(MrTlpKind.MWr), Is.EqualTo(0));
    }

    [Test]
    public void A_host_cannot_reach_functions_of_another_vh()
    {
        var t = new MraTopology().Boot();
        // Host 1 addresses the routing ID PF1 has in host 2: whatever answers there, it is not PF1.
        var status = Read(t.Host1, t.Pf1.Bdf, 0, out uint id);
        Assert.That(status == CompletionStatus.UnsupportedRequest || t.Host1.FindFunction(t.Pf1.Bdf) != t.Pf1);
        Assert.That(status, Is.EqualTo(CompletionStatus.UnsupportedRequest), "bus 4 is beyond host1's last bus of the virtual switch with nothing there");
        // Every bus number of host 1: PF1 is never the completer.
        for (int bus = 0; bus < 256; bus++)
            for (int devfn = 0; devfn < 256; devfn += 8)
                Assert.That(t.Host1.FindFunction(Bdf.FromBusDevFn(bus, devfn)), Is.Not.SameAs(t.Pf1));
        // Host 1's CPU writes to PF1's BAR address decode nowhere in host 1 (host 2's address map is not host 1's).
        Assert.That(t.Host1.MemoryWrite(Bar0Of(t.Pf1), new byte[4]), Is.Not.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    static ulong Bar0Of(PcieVirt.Pci.Functions.PciFunction f) =>
        (f.Config.Read32(PciRegs.Bar0) & ~0xFul) | (ulong)f.Config.Read32(PciRegs.Bar0 + 4) << 32;
}
