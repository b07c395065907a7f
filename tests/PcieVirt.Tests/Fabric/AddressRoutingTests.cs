using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using static PcieVirt.Tests.Fabric.FabricTestKit;

namespace PcieVirt.Tests.Fabric;

[TestFixture]
public class AddressRoutingTests
{
    static (SwitchTopology T, RamRegion A0Bar0, RamRegion A0Bar2, RamRegion A0Io, RamRegion BBar0) Build()
    {
        var t = new SwitchTopology().ProgramBuses().ProgramMemory();
        var r0 = new RamRegion(0x4000);
        var r2 = new RamRegion(0x1000);
        var io = new RamRegion(0x20);
        var b = new RamRegion(0x1000);
        t.A0.MapRegion(0, 0, 0x4000, r0);
        t.A0.MapRegion(2, 0, 0x1000, r2);
        t.A0.MapRegion(4, 0, 0x20, io);
        t.B.MapRegion(0, 0, 0x1000, b);
        return (t, r0, r2, io, b);
    }

    [Test]
    public void MemoryRead_IsRoutedThroughWindowsToTheDecodingBar()
    {
        var (t, r0, _, _, b) = Build();
        r0.Bytes[0x10] = 0x5A;
        b.Bytes[4] = 0xB4;
        var data = new byte[1];
        Assert.That(t.Rc.MemoryRead(0xC000_0010, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(data[0], Is.EqualTo(0x5A));
        Assert.That(t.Rc.MemoryRead(0xC010_0004, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(data[0], Is.EqualTo(0xB4), "the other downstream port's window routes to B");
        Assert.That(t.Rc.MemoryWrite(0xC000_0020, new byte[] { 1, 2, 3, 4 }), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(r0.Bytes[0x20..0x24], Is.EqualTo(new byte[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void PrefetchableWindowAbove4GiB_UsesTheUpper32Bits()
    {
        var (t, _, r2, _, _) = Build();
        r2.Bytes[8] = 0x77;
        var data = new byte[4];
        Assert.That(t.Rc.MemoryRead(0x40_0000_0008, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(data[0], Is.EqualTo(0x77));
        // Same low 32 bits, other upper half: not in the window.
        Assert.That(t.Rc.MemoryRead(0x41_0000_0008, data), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(data, Is.All.EqualTo(0xFF));
        Assert.That(t.Rp0.Function.PrefetchableWindow.Base, Is.EqualTo(0x40_0000_0000UL));
    }

    [Test]
    public void UnclaimedMemory_IsUr_ReadsAllOnes_WritesDropped()
    {
        var (t, r0, _, _, _) = Build();
        var data = new byte[4];
        // Inside the root port's and switch's windows, inside downstream port 0's window, beyond A0's BAR0.
        Assert.That(t.Rc.MemoryRead(0xC000_8000, data), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(data, Is.All.EqualTo(0xFF));
        Assert.That(t.Rc.MemoryWrite(0xC000_8000, data), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(r0.Writes, Is.Zero);
        Assert.That(t.SecondaryStatus(t.Rp0.Function) & (ushort)PciStatus.ReceivedMasterAbort, Is.Not.Zero,
            "the root port received the UR completion from its link");
        // Inside the aperture but no root port's window: the root complex completes it.
        Assert.That(t.Rc.MemoryRead(0xCF00_0000, data), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        // Outside every aperture: never becomes a PCI request.
        Assert.That(t.Rc.MemoryRead(0x1000, data), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }

    [Test]
    public void MemorySpaceEnable_GatesEveryBridgeAndTheEndpoint()
    {
        var (t, _, _, _, _) = Build();
        var data = new byte[4];
        foreach (var f in new PciFunction[] { t.Rp0.Function, t.Switch.UpstreamPort, t.Dsp0.Function, t.A0 })
        {
            ushort cmd = f.Config.Read16(PciRegs.Command);
            Cfg(t.Rc, f.Bdf, PciRegs.Command, 2, cmd & ~(uint)PciCommand.MemorySpace);
            Assert.That(t.Rc.MemoryRead(0xC000_0000, data), Is.EqualTo(CompletionStatus.UnsupportedRequest), $"{f.Name} MSE clear");
            Cfg(t.Rc, f.Bdf, PciRegs.Command, 2, cmd);
            Assert.That(t.Rc.MemoryRead(0xC000_0000, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion), $"{f.Name} MSE set again");
        }
    }

    [Test]
    public void IoRequests_FollowIoWindowsAndIoSpaceEnable()
    {
        var (t, _, _, io, _) = Build();
        io.Bytes[3] = 0x3C;
        var data = new byte[1];
        Assert.That(t.Rc.IoRead(0x2003, data), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(data[0], Is.EqualTo(0x3C));
        Assert.That(t.Rc.IoWrite(0x2004, new byte[] { 9 }), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(io.Bytes[4], Is.EqualTo(9));
        Cfg(t.Rc, t.Switch.UpstreamPort.Bdf, PciRegs.Command, 2, (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
        Assert.That(t.Rc.IoRead(0x2003, data), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(data[0], Is.EqualTo(0xFF));
    }

    [Test]
    public void DmaWrite_ReachesHostMemory_AndReadsBack()
    {
        var (t, _, _, _, _) = Build();
        Assert.That(t.A1.Upstream, Is.Not.Null);
        Command(t.Rc, t.A1, PciCommand.BusMaster);
        Assert.That(t.A1.Upstream!.MemoryWrite(t.A1.Bdf, 0x10_0FFC, new byte[] { 0xAA, 0xBB, 0xCC, 0xDD }), Is.True);
        var back = new byte[6];
        Assert.That(t.Rc.HostMemory.Read(0x10_0FFA, back), Is.True);
        Assert.That(back, Is.EqualTo(new byte[] { 0, 0, 0xAA, 0xBB, 0xCC, 0xDD }));
        var dma = new byte[4];
        Assert.That(t.A1.Upstream.MemoryRead(t.A1.Bdf, 0x10_0FFC, dma), Is.True);
        Assert.That(dma, Is.EqualTo(back[2..]));
        Assert.That(t.A1.Upstream.MemoryRead(t.A1.Bdf, 0x20_0000, dma), Is.True);
        Assert.That(dma, Is.All.Zero, "untouched RAM reads as zero");
    }

    [Test]
    public void Msi_ReachesTheInterruptControllerWithTheRequesterId()
    {
        var (t, _, _, _, _) = Build();
        var seen = new List<MsiMessage>();
        t.Rc.InterruptController.MessageReceived += seen.Add;
        Assert.That(t.B.Upstream!.MemoryWrite(t.B.Bdf, 0xFEE0_1000, BitConverter.GetBytes(0x0000_0041u)), Is.True);
        Assert.That(seen, Has.Count.EqualTo(1));
        Assert.That(seen[0].RequesterId, Is.EqualTo(new Bdf(4, 0, 0)));
        Assert.That(seen[0].Address, Is.EqualTo(0xFEE0_1000UL));
        Assert.That(seen[0].Vector, Is.EqualTo(0x41));
        Assert.That(seen[0].DestinationId, Is.EqualTo(1));
        Assert.That(t.Rc.InterruptController.CountForVector(0x41), Is.EqualTo(1));
        Assert.That(t.Rc.InterruptController.TotalMessages, Is.EqualTo(1));
        Assert.That(t.B.Upstream.MemoryRead(t.B.Bdf, 0xFEE0_1000, new byte[4]), Is.False, "the MSI range is write-only");
    }

    [Test]
    public void BusMasterEnable_IsRequiredOnTheFunctionAndEveryBridgeUpstream()
    {
        var (t, _, _, _, _) = Build();
        foreach (var f in new PciFunction[] { t.A0, t.Dsp0.Function, t.Switch.UpstreamPort, t.Rp0.Function })
        {
            ushort cmd = f.Config.Read16(PciRegs.Command);
            Cfg(t.Rc, f.Bdf, PciRegs.Command, 2, cmd & ~(uint)PciCommand.BusMaster);
            Assert.That(t.A0.Upstream!.MemoryWrite(t.A0.Bdf, 0x2000, new byte[] { 1 }), Is.False, $"{f.Name} BME clear");
            Assert.That(t.A0.Upstream.MemoryWrite(t.A0.Bdf, 0xFEE0_0000, new byte[4]), Is.False, $"{f.Name} BME clear blocks MSI too");
            Cfg(t.Rc, f.Bdf, PciRegs.Command, 2, cmd);
        }
        Assert.That(t.Rc.HostMemory.AllocatedPages, Is.Zero);
        Assert.That(t.Rc.InterruptController.TotalMessages, Is.Zero);
        Assert.That(t.A0.Upstream!.MemoryWrite(t.A0.Bdf, 0x2000, new byte[] { 1 }), Is.True);
    }

    [Test]
    public void DmaReadOutsideRam_IsUr_AndTheRequesterRecordsReceivedMasterAbort()
    {
        var (t, _, _, _, _) = Build();
        var data = new byte[8];
        Assert.That(t.A0.Upstream!.MemoryRead(t.A0.Bdf, 0x2000_0000, data), Is.False);
        Assert.That(data, Is.All.EqualTo(0xFF));
        Assert.That(t.A0.Config.Read16(PciRegs.Status) & (ushort)PciStatus.ReceivedMasterAbort, Is.Not.Zero);
    }

    [Test]
    public void UpstreamRequestIntoAWindowBelowTheBridge_IsNotSentBackUp()
    {
        var (t, _, _, _, _) = Build();
        // A0 (below downstream port 0) writing into downstream port 0's own window.
        Assert.That(t.A0.Upstream!.MemoryWrite(t.A0.Bdf, 0xC000_0000, new byte[] { 1 }), Is.False);
        Assert.That(SwitchTopology.DeviceStatus(t.Dsp0.Function) & 0x8, Is.EqualTo(0x8));
    }

    [Test]
    public void PeerToPeerInsideASwitch_ReachesTheOtherDownstreamPortsDevice()
    {
        var (t, _, _, _, b) = Build();
        Assert.That(t.A0.Upstream!.MemoryWrite(t.A0.Bdf, 0xC010_0010, new byte[] { 0x99 }), Is.True);
        Assert.That(b.Bytes[0x10], Is.EqualTo(0x99));
        // Peer-to-peer between root ports is not offered by this root complex.
        Command(t.Rc, t.C, PciCommand.BusMaster);
        Command(t.Rc, t.Rp1.Function, PciCommand.BusMaster);
        Assert.That(t.C.Upstream!.MemoryWrite(t.C.Bdf, 0xC010_0010, new byte[] { 0x11 }), Is.False);
        Assert.That(b.Bytes[0x10], Is.EqualTo(0x99));
    }

    [Test]
    public void RequestsCrossing4KiB_AreMalformed()
    {
        var (t, _, _, _, _) = Build();
        Assert.That(t.Rc.MemoryRead(0xC000_0FFE, new byte[4]), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(t.A0.Upstream!.MemoryWrite(t.A0.Bdf, 0x0FFE, new byte[4]), Is.False);
    }

    [Test]
    public void MsiWithWrongSize_IsRejected()
    {
        var (t, _, _, _, _) = Build();
        Assert.That(t.A0.Upstream!.MemoryWrite(t.A0.Bdf, 0xFEE0_0000, new byte[2]), Is.False);
        Assert.That(t.Rc.InterruptController.MalformedMessages, Is.EqualTo(1));
    }
}

[TestFixture]
public class IdRoutingTests
{
    [Test]
    public void CompletionToTheHost_GoesUpThroughEveryBridge()
    {
        var t = new SwitchTopology().ProgramBuses();
        var route = t.Rc.RouteById(t.A1.Bdf, t.Rc.RequesterId);
        Assert.That(route.Status, Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(route.ReachesHost, Is.True);
        Assert.That(route.Hops.Select(h => (h.BridgeId, h.Direction)), Is.EqualTo(new[]
        {
            (new Bdf(2, 0, 0), RouteDirection.Upstream),
            (new Bdf(1, 0, 0), RouteDirection.Upstream),
            (new Bdf(0, 0x1c, 0), RouteDirection.Upstream),
        }));
    }

    [Test]
    public void HostToEndpoint_GoesDownByBusRanges()
    {
        var t = new SwitchTopology().ProgramBuses();
        var route = t.Rc.RouteById(t.Rc.RequesterId, new Bdf(4, 0, 0));
        Assert.That(route.Completer, Is.SameAs(t.B));
        Assert.That(route.Hops.Select(h => h.Bridge), Is.EqualTo(new[] { t.Rp0.Function, t.Switch.UpstreamPort, t.Dsp1.Function }));
        Assert.That(route.Hops.All(h => h.Direction == RouteDirection.Downstream));
    }

    [Test]
    public void BetweenPeersOfOneSwitch_TurnsAroundAtTheInternalBus()
    {
        var t = new SwitchTopology().ProgramBuses();
        var route = t.Rc.RouteById(t.A0.Bdf, t.B.Bdf);
        Assert.That(route.Completer, Is.SameAs(t.B));
        Assert.That(route.Hops.Select(h => (h.Bridge, h.Direction)), Is.EqualTo(new[]
        {
            (t.Dsp0.Function, RouteDirection.Upstream),
            (t.Dsp1.Function, RouteDirection.Downstream),
        }));
    }

    [Test]
    public void AcrossRootPorts_GoesUpToTheRootBusAndDown()
    {
        var t = new SwitchTopology().ProgramBuses();
        var route = t.Rc.RouteById(t.C.Bdf, t.A2.Bdf);
        Assert.That(route.Completer, Is.SameAs(t.A2));
        Assert.That(route.Hops.Select(h => h.Direction), Is.EqualTo(new[]
        {
            RouteDirection.Upstream, RouteDirection.Downstream, RouteDirection.Downstream, RouteDirection.Downstream,
        }));
        Assert.That(route.Hops[0].Bridge, Is.SameAs(t.Rp1.Function));
    }

    [Test]
    public void UnknownTarget_IsUr()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.RouteById(t.A0.Bdf, new Bdf(3, 0, 6)).Status, Is.EqualTo(CompletionStatus.UnsupportedRequest));
        var inRange = t.Rc.RouteById(t.A0.Bdf, new Bdf(0x30, 0, 0));
        Assert.That(inRange.Status, Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(inRange.Hops, Has.Count.EqualTo(3), "went all the way up, nobody below the root bus claims bus 0x30");
        Assert.That(t.Rc.RouteById(new Bdf(0x40, 0, 0), t.A0.Bdf).Status, Is.EqualTo(CompletionStatus.UnsupportedRequest), "unknown source");
    }
}
