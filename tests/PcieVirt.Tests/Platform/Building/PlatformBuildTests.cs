using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;
using AddressRange = PcieVirt.Fabric.AddressRange;

namespace PcieVirt.Tests.Platform.Building;

/// <summary>
/// The platform builder on real model files: what firmware finds after building must be what the
/// model describes, read back through config requests as host software reads it. Expected values
/// come from the model and the PCIe Base Spec (register layouts cited per test).
/// </summary>
[TestFixture("default.json")]
[TestFixture("fabric-4x8.json")]
[TestFixture("two-hosts.json")]
public class PlatformBuildTests(string modelFile)
{
    // PCI Express capability registers (§7.5.3): offsets from the capability.
    const int ExpCaps = 0x02, LinkCap = 0x0C, LinkSta = 0x12, SlotCap = 0x14, SlotSta = 0x1A;

    PlatformModel _model = null!;
    PcieSystem _system = null!;
    int _host;
    HostModel HostModel => _model.Hosts[_host];
    HostSystem Host => _system.Hosts[_host];
    EnumerationReport Report => Host.Enumeration!;

    [OneTimeSetUp]
    public void Boot()
    {
        // two-hosts.json (segment 1 starts at bus 0x80) lives with the CLI tests.
        var path = File.Exists(ModelFiles.DeviceModel(modelFile)) ? ModelFiles.DeviceModel(modelFile)
            : Path.Combine(ModelFiles.RepoRoot, "tests", "PcieVirt.Tests", "Cli", "Models", modelFile);
        var result = PlatformModel.Load(path);
        Assert.That(result.Errors, Is.Empty);
        _model = result.Model!;
        _system = PcieSystem.Boot(_model);
        Assert.That(_system.Hosts, Has.Count.EqualTo(_model.Hosts.Count));
    }

    /// <summary>Runs <paramref name="check"/> once per host of the model, with <see cref="Host"/> set.</summary>
    void ForEachHost(Action check)
    {
        for (_host = 0; _host < _model.Hosts.Count; _host++)
        {
            Assert.That(Host.Name, Is.EqualTo(HostModel.Name));
            Assert.That(Host.RootComplex.Segment, Is.EqualTo(HostModel.Segment));
            check();
        }
    }

    PciAddress AddressOf(string name)
    {
        var f = Host.RootComplex.AttachedFunctions.Single(x => x.Name == name);
        return new PciAddress(Host.RootComplex.Segment, f.Bdf);
    }

    uint Read(PciAddress a, int offset, int width)
    {
        Assert.That(Host.Read(a, offset, width, out uint v), Is.EqualTo(CompletionStatus.SuccessfulCompletion), $"{a} @{offset:x}");
        return v;
    }

    int ExpressCap(PciAddress a)
    {
        int pos = CapabilityWalker.FindCapability(Host, a, 0x10);
        Assert.That(pos, Is.Not.Zero, $"{a} has a PCI Express capability");
        return pos;
    }

    [Test]
    public void Builds_and_enumerates_every_function_of_the_model_without_failures() => ForEachHost(Builds_and_enumerates_every_function_of_the_model_without_failuresOnHost);

    void Builds_and_enumerates_every_function_of_the_model_without_failuresOnHost()
    {
        Assert.That(Report.Failures, Is.Empty);
        // Ports, switch upstream ports and endpoint functions (integrated ones included).
        int expected = HostModel.AllPorts().Count() + HostModel.AllSwitches().Count() + HostModel.AllFunctions().Count();
        Assert.That(Report.Functions, Has.Count.EqualTo(expected));
        Assert.That(Host.Functions(), Is.EquivalentTo(Report.Functions.Select(f => f.Address)));
        foreach (var fm in HostModel.AllFunctions())
        {
            var a = AddressOf(fm.Name);
            Assert.That(Read(a, 0, 4), Is.EqualTo((uint)fm.Identity.DeviceId << 16 | fm.Identity.VendorId), fm.Name);
            Assert.That(Read(a, 8, 4) >> 8, Is.EqualTo(fm.Identity.ClassCode), fm.Name);
            Assert.That(a.Bdf.Function, Is.EqualTo(fm.Number & 7), fm.Name);
        }
    }

    /// <summary>
    /// Depth-first numbering (§7.5.1.3.2-4 bus number registers): a port's secondary bus is the next
    /// free number; a switch's internal bus follows it; children are numbered before the port's
    /// subordinate is closed, which also covers its busReserve.
    /// </summary>
    [Test]
    public void Bus_numbers_are_assigned_depth_first_as_the_model_implies() => ForEachHost(Bus_numbers_are_assigned_depth_first_as_the_model_impliesOnHost);

    void Bus_numbers_are_assigned_depth_first_as_the_model_impliesOnHost()
    {
        var expected = new List<(string Name, int Primary, int Secondary, int Subordinate)>();
        int next = HostModel.RootBus + 1;
        void Port(PortModel p, int primary)
        {
            int secondary = next++;
            int subordinate = secondary + p.BusNumbersNeeded() - 1;
            expected.Add((p.Name, primary, secondary, subordinate));
            if (p.Downstream is SwitchModel s)
            {
                int internalBus = next++;
                expected.Add((s.Name, secondary, internalBus, subordinate));
                foreach (var dp in s.DownstreamPorts) Port(dp, internalBus);
            }
            next = subordinate + 1;
        }
        foreach (var rp in HostModel.RootPorts) Port(rp, HostModel.RootBus);

        foreach (var (name, primary, secondary, subordinate) in expected)
        {
            var a = AddressOf(name);
            Assert.That(a.Bdf.Bus, Is.EqualTo(primary), $"{name} sits on its parent's secondary bus");
            Assert.That(Read(a, 0x18, 4) & 0xFFFFFF, Is.EqualTo((uint)(subordinate << 16 | secondary << 8 | primary)), name);
        }
        Assert.That(Report.LastBus, Is.EqualTo(next - 1));
        Assert.That(Report.Bridges, Has.Count.EqualTo(expected.Count));
    }

    /// <summary>
    /// Every BAR is naturally aligned (§7.5.1.2.1: the low address bits of a BAR of size 2^n are
    /// read-only zero), its register holds the assigned address, it lies inside the window of every
    /// bridge above it (§7.5.1.3.6-9) and inside the host aperture of its kind, and no two ranges of
    /// one address space overlap.
    /// </summary>
    [Test]
    public void Every_bar_is_aligned_inside_its_bridge_windows_and_host_apertures_without_overlap() => ForEachHost(Every_bar_is_aligned_inside_its_bridge_windows_and_host_apertures_without_overlapOnHost);

    void Every_bar_is_aligned_inside_its_bridge_windows_and_host_apertures_without_overlapOnHost()
    {
        var bars = Report.Bars.Where(b => b.Register != BarRegister.VfBar).ToList();
        Assert.That(bars, Is.Not.Empty);
        Assert.That(bars.All(b => b.Assigned), "every BAR got an address");
        var rc = Host.RootComplex;
        foreach (var b in bars)
        {
            string what = b.ToString();
            Assert.That(b.Base % b.Size, Is.Zero, $"{what}: naturally aligned");
            uint lower = Read(b.Address, b.ConfigOffset, 4);
            ulong programmed = b.Register == BarRegister.ExpansionRom ? lower & ~0x7FFu
                : b.Kind == ResourceKind.Io ? lower & ~3u : lower & ~0xFu;
            if (b.Is64Bit) programmed |= (ulong)Read(b.Address, b.ConfigOffset + 4, 4) << 32;
            Assert.That(programmed, Is.EqualTo(b.Base), $"{what}: register holds the address");

            var range = new AddressRange(b.Base, b.Size);
            var aperture = b.Kind switch
            {
                ResourceKind.Io => rc.Io,
                ResourceKind.Memory => rc.Mmio32,
                _ => rc.Mmio64.Contains(b.Base, b.Size) ? rc.Mmio64 : rc.Mmio32,
            };
            Assert.That(aperture.Contains(b.Base, b.Size), $"{what}: inside host aperture {aperture}");
            var above = Report.Bridges.Where(br => br.SecondaryBus <= b.Address.Bdf.Bus && b.Address.Bdf.Bus <= br.SubordinateBus).ToList();
            Assert.That(above, Is.Not.Empty, $"{what}: below at least one bridge");
            foreach (var br in above)
            {
                var window = b.Kind switch
                {
                    ResourceKind.Io => br.IoWindow,
                    ResourceKind.Memory => br.MemoryWindow,
                    _ => br.PrefetchableWindow,
                };
                Assert.That(window.Contains(range.Base, range.Size), $"{what}: inside {br.Address}'s window {window}");
            }
        }
        foreach (var space in new[] { false, true })
        {
            var ranges = bars.Where(b => (b.Kind == ResourceKind.Io) == space).OrderBy(b => b.Base).ToList();
            for (int i = 1; i < ranges.Count; i++)
                Assert.That(ranges[i].Base, Is.GreaterThan(ranges[i - 1].Limit), $"{ranges[i - 1]} and {ranges[i]} overlap");
        }
    }

    /// <summary>Bridge windows nest inside their parent's and do not overlap their siblings' (§7.5.1.3.6-9).</summary>
    [Test]
    public void Bridge_windows_nest_and_siblings_do_not_overlap() => ForEachHost(Bridge_windows_nest_and_siblings_do_not_overlapOnHost);

    void Bridge_windows_nest_and_siblings_do_not_overlapOnHost()
    {
        static IEnumerable<AddressRange> Windows(BridgeAssignment b) => [b.IoWindow, b.MemoryWindow, b.PrefetchableWindow];
        foreach (var child in Report.Bridges)
        {
            var parent = Report.Bridges.FirstOrDefault(p => p.SecondaryBus == child.PrimaryBus);
            if (parent is null) continue;
            foreach (var (c, p) in Windows(child).Zip(Windows(parent)))
                if (!c.IsEmpty) Assert.That(p.Contains(c.Base, c.Size), $"{child.Address} window {c} inside {parent.Address}'s {p}");
        }
        foreach (var group in Report.Bridges.GroupBy(b => b.PrimaryBus))
        {
            var siblings = group.ToList();
            for (int i = 0; i < siblings.Count; i++)
                for (int j = i + 1; j < siblings.Count; j++)
                    foreach (var (x, y) in Windows(siblings[i]).Zip(Windows(siblings[j])))
                        Assert.That(!x.IsEmpty && !y.IsEmpty && x.Overlaps(y), Is.False, $"{siblings[i].Address} {x} and {siblings[j].Address} {y}");
        }
    }

    /// <summary>
    /// Device/Port Type in the PCI Express Capabilities register (§7.5.3.2, bits 7:4): 0 Endpoint,
    /// 4 Root Port, 5 Switch Upstream Port, 6 Switch Downstream Port, 9 RC Integrated Endpoint. Slot
    /// Implemented (bit 8) and the Physical Slot Number (Slot Capabilities bits 31:19, §7.5.3.9) and
    /// Hot-Plug Capable (bit 6) follow the model.
    /// </summary>
    [Test]
    public void Ports_have_pcie_port_types_and_slots_from_the_model() => ForEachHost(Ports_have_pcie_port_types_and_slots_from_the_modelOnHost);

    void Ports_have_pcie_port_types_and_slots_from_the_modelOnHost()
    {
        foreach (var p in HostModel.AllPorts())
        {
            var a = AddressOf(p.Name);
            int cap = ExpressCap(a);
            uint caps = Read(a, cap + ExpCaps, 2);
            int expectedType = p is RootPortModel ? 4 : 6;
            Assert.That((caps >> 4) & 0xF, Is.EqualTo(expectedType), $"{p.Name} port type");
            Assert.That((caps >> 8) & 1, Is.EqualTo(p.Slot is null ? 0 : 1), $"{p.Name} Slot Implemented");
            if (p.Slot is { } slot)
            {
                uint sltCap = Read(a, cap + SlotCap, 4);
                Assert.That(sltCap >> 19, Is.EqualTo(slot), $"{p.Name} Physical Slot Number");
                Assert.That((sltCap >> 6) & 1, Is.EqualTo(p.HotPlug is null ? 0 : 1), $"{p.Name} Hot-Plug Capable");
            }
        }
        foreach (var s in HostModel.AllSwitches())
            Assert.That((Read(AddressOf(s.Name), ExpressCap(AddressOf(s.Name)) + ExpCaps, 2) >> 4) & 0xF, Is.EqualTo(5), $"{s.Name} upstream port");
        foreach (var e in HostModel.AllEndpoints())
            foreach (var f in e.Functions)
                Assert.That((Read(AddressOf(f.Name), ExpressCap(AddressOf(f.Name)) + ExpCaps, 2) >> 4) & 0xF,
                    Is.EqualTo(e.IsIntegrated ? 9 : 0), $"{f.Name} device type");
    }

    /// <summary>
    /// Slot Status Presence Detect State (bit 6, §7.5.3.11) is set when an adapter is present and
    /// clear in an empty slot; Data Link Layer Link Active (Link Status bit 13, §7.5.3.8) likewise,
    /// since every port reports it.
    /// </summary>
    [Test]
    public void Empty_slots_show_presence_detect_and_link_active_clear() => ForEachHost(Empty_slots_show_presence_detect_and_link_active_clearOnHost);

    void Empty_slots_show_presence_detect_and_link_active_clearOnHost()
    {
        var slotted = HostModel.AllPorts().Where(p => p.Slot is not null).ToList();
        Assert.That(slotted, Is.Not.Empty);
        foreach (var p in slotted)
        {
            var a = AddressOf(p.Name);
            int cap = ExpressCap(a);
            bool present = p.Downstream is not null;
            Assert.That((Read(a, cap + SlotSta, 2) >> 6) & 1, Is.EqualTo(present ? 1 : 0), $"{p.Name} Presence Detect State");
            Assert.That((Read(a, cap + LinkSta, 2) >> 13) & 1, Is.EqualTo(present ? 1 : 0), $"{p.Name} DL_Active");
        }
        if (modelFile == "default.json")
            Assert.That(slotted.Count(p => p.Downstream is null && p.HotPlug is not null), Is.EqualTo(2), "rp2 and sw0.dp3 are empty hot-plug slots");
    }

    /// <summary>
    /// A link trains to the highest speed and width both ends support (§4.2.6): the switch upstream
    /// port's Link Status (Current Link Speed bits 3:0, Negotiated Link Width bits 9:4, §7.5.3.8)
    /// shows the lower of its own and the port above's capability, and both ends agree. Link
    /// Capabilities keep each end's own maximum.
    /// </summary>
    [Test]
    public void Switch_upstream_link_trains_to_the_lower_of_both_ends() => ForEachHost(Switch_upstream_link_trains_to_the_lower_of_both_endsOnHost);

    void Switch_upstream_link_trains_to_the_lower_of_both_endsOnHost()
    {
        foreach (var port in HostModel.AllPorts())
        {
            if (port.Downstream is not SwitchModel s) continue;
            var usp = AddressOf(s.Name);
            var dsp = AddressOf(port.Name);
            int gen = Math.Min(s.Link.Generation, port.Link.Generation), width = Math.Min(s.Link.Width, port.Link.Width);
            uint expected = (uint)(width << 4 | gen);
            Assert.That(Read(usp, ExpressCap(usp) + LinkSta, 2) & 0x3FF, Is.EqualTo(expected), $"{s.Name} upstream link");
            Assert.That(Read(dsp, ExpressCap(dsp) + LinkSta, 2) & 0x3FF, Is.EqualTo(expected), $"{port.Name}, the other end");
            Assert.That(Read(usp, ExpressCap(usp) + LinkCap, 4) & 0x3FF, Is.EqualTo((uint)(s.Link.Width << 4 | s.Link.Generation)), $"{s.Name} Link Capabilities");
            Assert.That(Read(dsp, ExpressCap(dsp) + LinkCap, 4) & 0x3FF, Is.EqualTo((uint)(port.Link.Width << 4 | port.Link.Generation)), $"{port.Name} Link Capabilities");
        }
    }
}
