using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using static PcieVirt.Tests.Fabric.FabricTestKit;

namespace PcieVirt.Tests.Fabric;

[TestFixture]
public class FirmwareEnumeratorTests
{
    /// <summary>
    /// <code>
    /// 00:01.0 root port 0 ── switch 1 (USP) ── internal bus
    ///            ├─ DSP ── switch 2 (USP) ── internal bus
    ///            │                 ├─ DSP ── e1 (32-bit 64 KiB, 64-bit pref 2 MiB, I/O 64 B, ROM 64 KiB)
    ///            │                 └─ DSP ── e2 (32-bit 16 KiB)
    ///            ├─ DSP ── pf (64-bit non-pref 16 KiB; SR-IOV: 64 VFs, offset 0x80, stride 8, VF BAR0 64-bit pref 16 KiB)
    ///            └─ DSP ── mf0..mf2 (32-bit 4 KiB each)
    /// 00:02.0 root port 1 (bus reserve 3) ── e3 (32-bit 1 MiB, 64-bit pref 256 MiB)
    /// 00:03.0 RC-integrated endpoint (32-bit 8 KiB)
    /// </code>
    /// </summary>
    sealed class Topology
    {
        public Topology(RootComplexOptions? options = null)
        {
            Rc = new RootComplex(options ?? Options());
            Rp0 = Rc.AddRootPort(1, 0, Port("rp0", BridgePortKind.RootPort));
            Rp1 = Rc.AddRootPort(2, 0, Port("rp1", BridgePortKind.RootPort));
            Rp1.BusReserve = 3;
            Rciep = Endpoint("rciep", 0x10, new BarDefinition(0, BarKind.Memory32, 0x2000));
            Rc.AddIntegratedEndpoint(3, 0, Rciep);
            S1 = Rp0.ConnectSwitch(Port("s1-usp", BridgePortKind.SwitchUpstreamPort));
            var d0 = S1.AddDownstreamPort(0, 0, Port("s1-dsp0", BridgePortKind.SwitchDownstreamPort));
            var d1 = S1.AddDownstreamPort(1, 0, Port("s1-dsp1", BridgePortKind.SwitchDownstreamPort));
            var d2 = S1.AddDownstreamPort(2, 0, Port("s1-dsp2", BridgePortKind.SwitchDownstreamPort));
            S2 = d0.ConnectSwitch(Port("s2-usp", BridgePortKind.SwitchUpstreamPort));
            var s2d0 = S2.AddDownstreamPort(0, 0, Port("s2-dsp0", BridgePortKind.SwitchDownstreamPort));
            var s2d1 = S2.AddDownstreamPort(1, 0, Port("s2-dsp1", BridgePortKind.SwitchDownstreamPort));
            var e1 = new EndpointFunction("e1", new FunctionIdentity { VendorId = 0x1B36, DeviceId = 0xE1, ClassCode = 0x020000 });
            e1.DefineBar(new BarDefinition(0, BarKind.Memory32, 0x1_0000));
            e1.DefineBar(new BarDefinition(2, BarKind.Memory64, 0x20_0000, Prefetchable: true));
            e1.DefineBar(new BarDefinition(4, BarKind.Io, 0x40));
            e1.DefineExpansionRom(0x1_0000);
            e1.Seal();
            E1 = e1;
            s2d0.ConnectDevice(E1);
            E2 = Endpoint("e2", 0xE2, new BarDefinition(0, BarKind.Memory32, 0x4000));
            s2d1.ConnectDevice(E2);
            Sriov = new TestSriovCapability(64, 0x80, 8, new BarDefinition(0, BarKind.Memory64, 0x4000, Prefetchable: true));
            Pf = Endpoint("pf", 0xF0, [Sriov], new BarDefinition(0, BarKind.Memory64, 0x4000));
            d1.ConnectDevice(Pf);
            Mf = [Endpoint("mf0", 0x30, new BarDefinition(0, BarKind.Memory32, 0x1000)),
                  Endpoint("mf1", 0x31, new BarDefinition(0, BarKind.Memory32, 0x1000)),
                  Endpoint("mf2", 0x32, new BarDefinition(0, BarKind.Memory32, 0x1000))];
            d2.ConnectDevice(Mf);
            E3 = Endpoint("e3", 0xE3, new BarDefinition(0, BarKind.Memory32, 0x10_0000),
                new BarDefinition(2, BarKind.Memory64, 0x1000_0000, Prefetchable: true));
            Rp1.ConnectDevice(E3);
        }

        public RootComplex Rc { get; }
        public RootPort Rp0 { get; }
        public RootPort Rp1 { get; }
        public PcieSwitch S1 { get; }
        public PcieSwitch S2 { get; }
        public EndpointFunction Rciep { get; }
        public EndpointFunction E1 { get; }
        public EndpointFunction E2 { get; }
        public EndpointFunction E3 { get; }
        public EndpointFunction Pf { get; }
        public TestSriovCapability Sriov { get; }
        public EndpointFunction[] Mf { get; }
    }

    static BridgeAssignment BridgeAt(EnumerationReport r, int bus, int dev) =>
        r.Bridges.Single(b => b.Address.Bdf == new Bdf(bus, dev, 0));

    [Test]
    public void BusNumbers_AreAssignedDepthFirst_WithReservations()
    {
        var t = new Topology();
        var r = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(r.Failures, Is.Empty);
        var expected = new (int Bus, int Dev, int Pri, int Sec, int Sub)[]
        {
            (0, 1, 0, 1, 10),   // root port 0
            (0, 2, 0, 11, 14),  // root port 1: one bus found + reserve 3
            (1, 0, 1, 2, 10),   // switch 1 upstream port
            (2, 0, 2, 3, 6),    // switch 1 DSP0 -> switch 2
            (2, 1, 2, 7, 9),    // switch 1 DSP1: PF on 7, VFs up to 07:00.0 + 0x80 + 63*8 = 09:78.0
            (2, 2, 2, 10, 10),  // switch 1 DSP2
            (3, 0, 3, 4, 6),    // switch 2 upstream port
            (4, 0, 4, 5, 5),
            (4, 1, 4, 6, 6),
        };
        Assert.That(r.Bridges.Select(b => (b.Address.Bdf.Bus, b.Address.Bdf.Device, (int)b.PrimaryBus, (int)b.SecondaryBus, (int)b.SubordinateBus)),
            Is.EqualTo(expected.Select(e => (e.Bus, e.Dev, e.Pri, e.Sec, e.Sub))));
        Assert.That(r.LastBus, Is.EqualTo(14));
        // The registers hold what the report says.
        Assert.That(t.Rp0.Function.SubordinateBus, Is.EqualTo(10));
        Assert.That(t.Pf.Bdf, Is.EqualTo(new Bdf(7, 0, 0)));
        Assert.That(t.Mf[2].Bdf, Is.EqualTo(new Bdf(10, 0, 2)));
        Assert.That(t.E3.Bdf, Is.EqualTo(new Bdf(11, 0, 0)));
    }

    [Test]
    public void Functions_AreAllFound_AndMatchWhatRoutingReaches()
    {
        var t = new Topology();
        var r = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(r.Functions, Has.Count.EqualTo(17));
        Assert.That(r.Functions.Select(f => f.Address), Is.EqualTo(t.Rc.Functions()));
        var mf0 = r.Functions.Single(f => f.Address.Bdf == new Bdf(10, 0, 0));
        Assert.That(mf0.IsMultiFunction, Is.True);
        Assert.That(r.Functions.Count(f => f.IsBridge), Is.EqualTo(9));
        Assert.That(r.Functions.Single(f => f.Address.Bdf == new Bdf(5, 0, 0)).ClassCode, Is.EqualTo(0x020000u));
    }

    [Test]
    public void SriovProbing_WalksNumVfsDownAndLeavesItAtZero()
    {
        var t = new Topology();
        new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(t.Sriov.NumVfsWrites.Take(64), Is.EqualTo(Enumerable.Range(1, 64).Reverse()));
        Assert.That(t.Sriov.NumVfsWrites[^1], Is.Zero);
        Assert.That(t.Sriov.NumVfs, Is.Zero);
        Assert.That(t.Sriov.FirstVfOffset, Is.Zero, "offset reads 0 again with NumVFs = 0");
    }

    [Test]
    public void Bars_AreNaturallyAligned_InTheRightAperture_AndDoNotOverlap()
    {
        var t = new Topology();
        var opts = t.Rc.Options;
        var r = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(r.Bars.All(b => b.Assigned), Is.True);
        foreach (var b in r.Bars)
        {
            Assert.That(b.Base % b.Alignment, Is.Zero, b.ToString());
            var aperture = b.Kind switch
            {
                ResourceKind.Io => opts.Io,
                ResourceKind.PrefetchableMemory => opts.Mmio64,
                _ => opts.Mmio32,
            };
            Assert.That(aperture.Contains(b.Base, b.Size), Is.True, $"{b} in {aperture}");
        }
        var sorted = r.Bars.Where(b => b.Kind != ResourceKind.Io).OrderBy(b => b.Base).ToList();
        for (int i = 1; i < sorted.Count; i++)
            Assert.That(sorted[i].Base, Is.GreaterThan(sorted[i - 1].Limit), $"{sorted[i - 1]} overlaps {sorted[i]}");

        var vfBar = r.Bars.Single(b => b.Register == BarRegister.VfBar);
        Assert.That(vfBar.Size, Is.EqualTo(0x4000UL * 64));
        Assert.That(vfBar.Alignment, Is.EqualTo(0x4000UL));
        Assert.That(vfBar.Kind, Is.EqualTo(ResourceKind.PrefetchableMemory));
        int cap = CapabilityWalker.FindExtendedCapability(t.Pf.Config, 0x10);
        ulong programmed = (t.Pf.Config.Read32(cap + 0x24) & ~0xFUL) | (ulong)t.Pf.Config.Read32(cap + 0x28) << 32;
        Assert.That(programmed, Is.EqualTo(vfBar.Base), "the VF BAR address is written into the SR-IOV capability");

        var rom = r.Bars.Single(b => b.Register == BarRegister.ExpansionRom);
        Assert.That(rom.Size, Is.EqualTo(0x1_0000UL));
        Assert.That(t.E1.Config.Read32(PciRegs.ExpansionRomType0) & 1, Is.Zero, "ROM stays disabled");
        var pfBar = r.Bars.Single(b => b.Address.Bdf == t.Pf.Bdf && b.Register == BarRegister.Bar);
        Assert.That(pfBar is { Is64Bit: true, Kind: ResourceKind.Memory }, Is.True, "64-bit non-prefetchable stays below 4 GiB");
        Assert.That(t.E1.BarAddress(2), Is.EqualTo(r.Bars.Single(b => b.Address.Bdf == t.E1.Bdf && b.Index == 2 && b.Register == BarRegister.Bar).Base));
    }

    [Test]
    public void Windows_AreAlignedNested_AndCoverEverythingBelow()
    {
        var t = new Topology();
        var r = new FirmwareEnumerator(t.Rc).Enumerate();
        foreach (var br in r.Bridges)
        {
            foreach (var w in new[] { br.MemoryWindow, br.PrefetchableWindow })
                if (!w.IsEmpty)
                {
                    Assert.That(w.Base % FirmwareEnumerator.MemoryWindowGranularity, Is.Zero);
                    Assert.That(w.Size % FirmwareEnumerator.MemoryWindowGranularity, Is.Zero);
                }
            if (!br.IoWindow.IsEmpty)
            {
                Assert.That(br.IoWindow.Base % FirmwareEnumerator.IoWindowGranularity, Is.Zero);
                Assert.That(br.IoWindow.Size % FirmwareEnumerator.IoWindowGranularity, Is.Zero);
            }
        }
        // Every resource of a function lies in the matching window of every bridge above it.
        foreach (var bar in r.Bars)
            foreach (var br in r.Bridges.Where(b => bar.Address.Bdf.Bus >= b.SecondaryBus && bar.Address.Bdf.Bus <= b.SubordinateBus))
            {
                var w = bar.Kind switch
                {
                    ResourceKind.Io => br.IoWindow,
                    ResourceKind.PrefetchableMemory => br.PrefetchableWindow,
                    _ => br.MemoryWindow,
                };
                Assert.That(w.Contains(bar.Base, bar.Size), Is.True, $"{bar} inside {br.Address} window {w}");
            }
        // Child bridges' windows nest in their parents', siblings do not overlap.
        foreach (var child in r.Bridges)
            foreach (var parent in r.Bridges.Where(p => child.Address.Bdf.Bus >= p.SecondaryBus && child.Address.Bdf.Bus <= p.SubordinateBus))
            {
                if (!child.MemoryWindow.IsEmpty) Assert.That(parent.MemoryWindow.Contains(child.MemoryWindow.Base, child.MemoryWindow.Size), Is.True);
                if (!child.PrefetchableWindow.IsEmpty) Assert.That(parent.PrefetchableWindow.Contains(child.PrefetchableWindow.Base, child.PrefetchableWindow.Size), Is.True);
                if (!child.IoWindow.IsEmpty) Assert.That(parent.IoWindow.Contains(child.IoWindow.Base, child.IoWindow.Size), Is.True);
            }
        foreach (var a in r.Bridges)
            foreach (var b in r.Bridges.Where(b => b != a && b.PrimaryBus == a.PrimaryBus))
            {
                Assert.That(a.MemoryWindow.Overlaps(b.MemoryWindow), Is.False, $"{a.Address} / {b.Address}");
                Assert.That(a.PrefetchableWindow.Overlaps(b.PrefetchableWindow), Is.False);
                Assert.That(a.IoWindow.Overlaps(b.IoWindow), Is.False);
            }
        // The registers agree with the report.
        var rp0 = BridgeAt(r, 0, 1);
        Assert.That(t.Rp0.Function.MemoryWindow.Base, Is.EqualTo(rp0.MemoryWindow.Base));
        Assert.That(t.Rp0.Function.PrefetchableWindow.Limit, Is.EqualTo(rp0.PrefetchableWindow.Limit));
        Assert.That(BridgeAt(r, 4, 1).IoWindow.IsEmpty, Is.True, "nothing below needs I/O");
        Assert.That(t.S2.DownstreamPorts[1].Function.IoWindow.IsEnabled, Is.False);
    }

    [Test]
    public void CommandBits_AreSetWhereUsed_AndTheFabricWorksAfterwards()
    {
        var t = new Topology();
        var r = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(t.E1.Command, Is.EqualTo(PciCommand.MemorySpace | PciCommand.IoSpace | PciCommand.BusMaster));
        Assert.That(t.E2.Command, Is.EqualTo(PciCommand.MemorySpace | PciCommand.BusMaster));
        Assert.That(t.S2.DownstreamPorts[0].Function.Command, Is.EqualTo(PciCommand.MemorySpace | PciCommand.IoSpace | PciCommand.BusMaster));
        Assert.That(t.S2.DownstreamPorts[1].Function.Command, Is.EqualTo(PciCommand.MemorySpace | PciCommand.BusMaster));
        Assert.That(t.Rp1.Function.Command & PciCommand.IoSpace, Is.EqualTo((PciCommand)0));

        var region = new RamRegion(0x1_0000);
        t.E1.MapRegion(0, 0, 0x1_0000, region);
        region.Bytes[0x44] = 0xE1;
        var bar0 = r.Bars.Single(b => b.Address.Bdf == t.E1.Bdf && b.Register == BarRegister.Bar && b.Index == 0);
        var data = new byte[1];
        Assert.That(t.Rc.MemoryRead(bar0.Base + 0x44, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(data[0], Is.EqualTo(0xE1));
        Assert.That(t.E2.Upstream!.MemoryWrite(t.E2.Bdf, 0xFEE0_0000, BitConverter.GetBytes(0x31u)), Is.True);
        Assert.That(t.Rc.InterruptController.LastMessage!.Value.RequesterId, Is.EqualTo(new Bdf(6, 0, 0)));
    }

    [Test]
    public void NoSixtyFourBitAperture_PutsPrefetchableBarsBelow4GiB()
    {
        var t = new Topology(Options() with { Mmio64 = AddressRange.None, Mmio32 = new AddressRange(0x8000_0000, 0x6000_0000) });
        var r = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(r.Failures, Is.Empty);
        Assert.That(r.Bars.All(b => b.Kind == ResourceKind.Io || b.Limit < 0x1_0000_0000UL), Is.True);
        Assert.That(BridgeAt(r, 0, 2).PrefetchableWindow.Limit, Is.LessThan(0x1_0000_0000UL));
    }

    [Test]
    public void ApertureTooSmall_IsReportedNotThrown_AndTheBarStaysUndecoded()
    {
        var t = new Topology(Options() with { Mmio32 = new AddressRange(0xC000_0000, 0x40_0000) });
        EnumerationReport? r = null;
        Assert.That(() => r = new FirmwareEnumerator(t.Rc).Enumerate(), Throws.Nothing);
        Assert.That(r!.Succeeded, Is.False);
        Assert.That(r.Failures.Any(f => f.Message.Contains("too small")), Is.True, string.Join("\n", r.Failures));
        foreach (var b in r.Bars.Where(b => !b.Assigned && b.Register == BarRegister.Bar))
        {
            var f = t.Rc.FindFunction(b.Address.Bdf)!;
            Assert.That(f.MemorySpaceEnabled, Is.False, $"{f.Name} has an unassigned BAR, so memory decoding stays off");
        }
        Assert.That(r.Bars.Any(b => b.Assigned), Is.True, "what fits is still assigned");
    }

    [Test]
    public void OutOfBusNumbers_IsReported()
    {
        var t = new Topology(Options() with { EndBus = 4 });
        var r = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(r.Failures, Is.Not.Empty);
        Assert.That(r.LastBus, Is.LessThanOrEqualTo(4));
        Assert.That(r.Bridges.All(b => b.SubordinateBus <= 4), Is.True);
    }

    [Test]
    public void Enumerating_Twice_GivesTheSameResult()
    {
        var t = new Topology();
        var first = new FirmwareEnumerator(t.Rc).Enumerate();
        var second = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(second.Bridges, Is.EqualTo(first.Bridges));
        Assert.That(second.Bars, Is.EqualTo(first.Bars));
        t.Rc.Reset();
        var third = new FirmwareEnumerator(t.Rc).Enumerate();
        Assert.That(third.Bars, Is.EqualTo(first.Bars));
    }

    [Test]
    public void AriDevice_GetsAriForwardingAndAllItsFunctionsFound()
    {
        var rc = NewRootComplex();
        var rp = rc.AddRootPort(1, 0, Port("rp", BridgePortKind.RootPort, ariForwardingSupported: true));
        var sriov = new TestSriovCapability(4, 0x10, 1) { AriOffsetDelta = 0x100 };
        var fns = new EndpointFunction[12];
        for (int i = 0; i < 12; i++)
        {
            var caps = new List<PcieVirt.Pci.Capabilities.PciCapability> { new TestAriCapability(i == 11 ? 0 : i + 1) };
            if (i == 0) caps.Add(sriov);
            fns[i] = Endpoint($"f{i}", (ushort)(0x200 + i), [.. caps]);
        }
        rp.ConnectDevice(fns);
        var r = new FirmwareEnumerator(rc).Enumerate();
        Assert.That(r.Failures, Is.Empty);
        Assert.That(r.Functions.Count(f => f.Address.Bdf.Bus == 1), Is.EqualTo(12));
        int devCtl2 = CapabilityWalker.FindCapability(rp.Function.Config, 0x10) + 0x28;
        Assert.That(rp.Function.Config.Read16(devCtl2) & 0x20, Is.EqualTo(0x20), "ARI Forwarding Enable set in the port");
        // ARI Capable Hierarchy was set before the offsets were read: VFs at 01:00.0 + 0x110 .. + 0x113 → bus 2.
        Assert.That(BridgeAt(r, 0, 1).SubordinateBus, Is.EqualTo(2));
        int cap = CapabilityWalker.FindExtendedCapability(fns[0].Config, 0x10);
        Assert.That(fns[0].Config.Read16(cap + 0x08) & 0x10, Is.EqualTo(0x10));
    }

    [Test]
    public void WithoutAriSupportInThePort_OnlyTheFirstEightFunctionsAreFound()
    {
        var rc = NewRootComplex();
        var rp = rc.AddRootPort(1, 0, Port("rp", BridgePortKind.RootPort, ariForwardingSupported: false));
        rp.ConnectDevice(Enumerable.Range(0, 12).Select(i => Endpoint($"f{i}", (ushort)i, [new TestAriCapability(i == 11 ? 0 : i + 1)])).ToArray());
        var r = new FirmwareEnumerator(rc).Enumerate();
        Assert.That(r.Functions.Count(f => f.Address.Bdf.Bus == 1), Is.EqualTo(8));
    }

    [Test]
    public void BarSizing_RestoresTheOriginalValue_AndDisablesDecodingMeanwhile()
    {
        var rc = NewRootComplex();
        var observer = new CommandDuringSizing();
        var e = new EndpointFunction("e", new FunctionIdentity { VendorId = 0x1B36, DeviceId = 1 });
        e.DefineBar(new BarDefinition(0, BarKind.Memory32, 0x1000));
        e.Seal();
        rc.AddIntegratedEndpoint(1, 0, e);
        e.Config.Write(PciRegs.Command, 2, (uint)PciCommand.MemorySpace);
        e.Config.Write(0x10, 4, 0xC000_0000);
        // Watch the Command register each time the BAR holds the all-ones probe.
        observer.Attach(e);
        new FirmwareEnumerator(rc, new FirmwareEnumerationOptions { EnableBusMaster = false }).Enumerate();
        Assert.That(observer.ProbesSeen, Is.GreaterThan(0));
        Assert.That(observer.MemoryEnabledDuringProbe, Is.False);
        Assert.That(e.Command, Is.EqualTo(PciCommand.MemorySpace), "Bus Master left off on request");
    }

    /// <summary>Records whether Memory Space Enable was set while BAR0 held the sizing pattern.</summary>
    sealed class CommandDuringSizing : IConfigWriteObserver
    {
        PciFunction? _f;
        public int ProbesSeen { get; private set; }
        public bool MemoryEnabledDuringProbe { get; private set; }

        public void Attach(PciFunction f)
        {
            _f = f;
            f.Config.Observe(0x10, 4, this);
        }

        public void OnConfigWrite(ConfigSpace config, int offset, int width, uint oldValue, uint written)
        {
            if (written != 0xFFFF_FFFF) return;
            ProbesSeen++;
            MemoryEnabledDuringProbe |= _f!.MemorySpaceEnabled;
        }
    }
}
