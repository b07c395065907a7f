using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform.MultiRoot;

public class HostFailureAndSlotRescanTests
{
    static PcieSystem Boot() => PcieSystem.Boot(PlatformModel.Load(ModelFiles.DeviceModel("mriov-2host.json")).GetModelOrThrow());

    static PciFunction Pf(PcieSystem s, string name) => s.MultiRoot!.Devices[0].Device.PhysicalFunctions.Single(f => f.Name == name);

    [Test]
    public void A_failed_host_refuses_its_own_requests_and_every_request_towards_it()
    {
        var s = Boot();
        var host0 = s.Hosts[0].RootComplex;
        var pf0 = Pf(s, "mraid-pf0");
        var at = new PciAddress(host0.Segment, pf0.Bdf);
        ulong bar = s.Hosts[0].Describe(at)!.Bars[0].Base;
        Assert.That(host0.Read(at, 0, 4, out uint id), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(id, Is.EqualTo(0x00B0_1B36u));
        Assert.That(bar, Is.Not.Zero);
        Assert.That(pf0.Upstream!.MemoryWrite(pf0.Bdf, 0x10_0000, [1, 2, 3, 4]), Is.True, "DMA works before the failure");

        host0.Fail();

        Assert.That(host0.IsFailed);
        Assert.That(host0.Read(at, 0, 4, out id), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(id, Is.EqualTo(0xFFFF_FFFFu));
        Assert.That(host0.Write(at, PciRegs.Command, 2, 0), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        var mmio = new byte[4];
        Assert.That(host0.MemoryRead(bar, mmio), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(mmio, Is.All.EqualTo(0xFF));
        Assert.That(host0.HostRequestsRefused, Is.EqualTo(3));
        Assert.That(pf0.Config.Read16(PciRegs.Command) & (ushort)PciCommand.MemorySpace, Is.Not.Zero, "the refused config write never reached the PF");

        // DMA and MSI from the PF towards the dead host: refused, counted, host memory untouched.
        Assert.That(pf0.Upstream!.MemoryWrite(pf0.Bdf, 0x10_0000, [9, 9, 9, 9]), Is.False);
        var readBack = new byte[4];
        Assert.That(pf0.Upstream!.MemoryRead(pf0.Bdf, 0x10_0000, readBack), Is.False);
        Assert.That(readBack, Is.All.EqualTo(0xFF));
        Assert.That(pf0.Upstream!.MemoryWrite(pf0.Bdf, 0xFEE0_0000, [0x40, 0, 0, 0]), Is.False, "MSI dropped");
        Assert.That(pf0.Upstream!.MapForWrite(pf0.Bdf, 0x10_0000, 4, out _), Is.Not.EqualTo(DmaMapStatus.Mapped));
        Assert.That(host0.UpstreamDroppedAfterFailure, Is.EqualTo(3));
        Assert.That(host0.UpstreamRefusedAfterFailure, Is.EqualTo(1));
        var raw = new byte[4];
        host0.HostMemory.Read(0x10_0000, raw);
        Assert.That(raw, Is.EqualTo(new byte[] { 1, 2, 3, 4 }));

        // The other host is not affected.
        var host1 = s.Hosts[1].RootComplex;
        var pf1 = Pf(s, "mraid-pf1");
        Assert.That(host1.Read(new PciAddress(host1.Segment, pf1.Bdf), 0, 4, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(pf1.Upstream!.MemoryWrite(pf1.Bdf, 0x10_0000, [5, 6, 7, 8]), Is.True);
    }

    static Dictionary<Bdf, uint[]> Registers(RootComplex rc)
    {
        var d = new Dictionary<Bdf, uint[]>();
        foreach (var f in rc.AttachedFunctions)
        {
            var r = new List<uint>();
            for (int i = 0; i < 6; i++) r.Add(f.Config.Read32(PciRegs.Bar0 + 4 * i));
            if (f.IsBridge) r.AddRange([f.Config.Read32(0x18), f.Config.Read32(0x20), f.Config.Read32(0x24), f.Config.Read32(0x28), f.Config.Read32(0x2C)]);
            r.Add(f.Config.Read16(PciRegs.Command));
            d[f.Bdf] = [.. r];
        }
        return d;
    }

    [Test]
    public void Firmware_reserves_a_memory_window_below_every_empty_hot_plug_port_of_a_host_vh()
    {
        var s = Boot();
        var vh = s.MultiRoot!.Switch.Hierarchies.Single(v => !v.IsManagement && v.RootComplex == s.Hosts[1].RootComplex);
        var empty = vh.VirtualDownstreamPorts.Where(p => !p.IsOccupied).ToList();
        Assert.That(empty, Is.Not.Empty);
        foreach (var p in empty)
        {
            uint w = p.Function.Config.Read32(0x20);
            ulong @base = (ulong)(w & 0xFFF0) << 16, limit = (ulong)((w >> 16) & 0xFFF0) << 16 | 0xF_FFFF;
            Assert.That(limit, Is.GreaterThan(@base), $"{p.Function.Name}: memory window on");
            Assert.That(limit - @base + 1, Is.GreaterThanOrEqualTo(s.MultiRoot.Switch.Options.MemoryReserve));
        }
    }

    [Test]
    public void A_slot_rescan_after_a_hot_add_places_the_new_pf_in_the_reserved_window_and_moves_nothing_else()
    {
        var s = Boot();
        var mr = s.MultiRoot!;
        var hostB = s.Hosts[1];
        var vhB = mr.Switch.Hierarchies.Single(v => !v.IsManagement && v.RootComplex == hostB.RootComplex);
        var before = Registers(hostB.RootComplex);
        int functionsBefore = hostB.Enumeration!.Functions.Count;

        Assert.That(mr.Manager.Move(mr.Devices[0].Port, 0, vhB.Id).IsSuccess);
        var binding = mr.Switch.BindingOf(mr.Devices[0].Port, 0)!.Value;
        var port = vhB.VirtualDownstreamPorts[binding.VirtualPort];
        var pf0 = Pf(s, "mraid-pf0");
        Assert.That(pf0.Config.Read32(PciRegs.Bar0), Is.EqualTo(0x4u), "reset by the move: unassigned");

        var versions = hostB.RootComplex.AttachedFunctions.Where(f => f != port.Function && f != pf0).ToDictionary(f => f, f => f.Config.Version);

        var report = hostB.RescanSlot(port.Function.Bdf);

        // Not one configuration write reached a function outside the slot (the port itself may get ARI Forwarding Enable).
        foreach (var (f, v) in versions) Assert.That(f.Config.Version, Is.EqualTo(v), $"{f.Name} was written during the slot rescan");

        Assert.That(report.Succeeded, report.ToString());
        Assert.That(report.Functions.Select(f => f.Address.Bdf), Is.EqualTo(new[] { pf0.Bdf }));
        var after = Registers(hostB.RootComplex);
        foreach (var (bdf, regs) in before)
        {
            if (bdf == port.Function.Bdf) continue; // the slot's port: ARI Forwarding may change, checked below
            Assert.That(after[bdf], Is.EqualTo(regs), $"{bdf} kept its BARs, windows, bus numbers and Command");
        }
        Assert.That(after[port.Function.Bdf].Take(11), Is.EqualTo(before[port.Function.Bdf].Take(11)), "the port's own windows and buses are as firmware left them");

        // The PF's BAR 0 and VF BAR 0 are inside the port's memory window, and its decoders are on.
        uint w = port.Function.Config.Read32(0x20);
        ulong wBase = (ulong)(w & 0xFFF0) << 16, wLimit = (ulong)((w >> 16) & 0xFFF0) << 16 | 0xF_FFFF;
        var info = hostB.Describe(new PciAddress(hostB.RootComplex.Segment, pf0.Bdf))!;
        ulong bar = info.Bars[0].Base;
        Assert.That(bar, Is.InRange(wBase, wLimit - info.Bars[0].Size + 1));
        var sriov = pf0.FindCapability<SriovCapability>()!;
        ulong vfBar = pf0.Config.Read32(sriov.Offset + 0x24) & ~0xFul | (ulong)pf0.Config.Read32(sriov.Offset + 0x28) << 32;
        Assert.That(vfBar, Is.InRange(wBase, wLimit));
        Assert.That(pf0.Config.Read16(PciRegs.Command) & (ushort)PciCommand.MemorySpace, Is.Not.Zero);
        var id = new byte[4];
        Assert.That(hostB.RootComplex.MemoryRead(bar, id), Is.EqualTo(CompletionStatus.SuccessfulCompletion), "the new BAR decodes");
        Assert.That(hostB.Enumeration!.Functions.Count, Is.EqualTo(functionsBefore + 1), "host B's record now has the PF too");
    }
}
