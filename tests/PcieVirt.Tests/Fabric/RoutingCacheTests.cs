using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Support;
using static PcieVirt.Tests.Fabric.FabricTestKit;

namespace PcieVirt.Tests.Fabric;

/// <summary>
/// The root complex remembers host MMIO routes and each function's way up; whatever changes the registers
/// those decisions came from, through the root complex or not (tests and device models write Config
/// directly, devices use SetRaw), the next request must be routed as a fresh walk would route it.
/// Every test first routes a request once (so it is cached), then changes state behind the root complex's back.
/// </summary>
[TestFixture]
public class RoutingCacheTests
{
    const ulong CBar = 0xC020_0000;

    /// <summary>The switch topology plus C (under root port 1, no switch on its way) with BAR0 at <see cref="CBar"/>.</summary>
    static (SwitchTopology T, RamRegion C) Build(ILoggerFactory? logging = null)
    {
        var t = new SwitchTopology(logging).ProgramBuses().ProgramMemory();
        var c = new RamRegion(0x1000);
        t.C.MapRegion(0, 0, 0x1000, c);
        t.Rp1.Function.SetMemoryWindow(0xC020_0000, 0xC02F_FFFF);
        t.Rp1.Function.SetPrefetchableWindow(1, 0); // off (its reset value decodes [0, 1 MiB))
        Cfg(t.Rc, t.C.Bdf, 0x10, 4, (uint)CBar);
        var all = PciCommand.MemorySpace | PciCommand.BusMaster;
        Command(t.Rc, t.Rp1.Function, all);
        Command(t.Rc, t.C, all);
        return (t, c);
    }

    static CompletionStatus Read(SwitchTopology t, ulong address, out byte value)
    {
        var data = new byte[1];
        var s = t.Rc.MemoryRead(address, data);
        value = data[0];
        return s;
    }

    [Test]
    public void HostMmio_FollowsABarMovedByADirectConfigWrite()
    {
        var (t, c) = Build();
        c.Bytes[0x40] = 0x3C;
        Assert.That(Read(t, CBar + 0x40, out var v), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(v, Is.EqualTo(0x3C));
        t.C.Config.Write(0x10, 4, (uint)CBar + 0x1000); // not through the root complex
        Assert.That(Read(t, CBar + 0x40, out v), Is.EqualTo(CompletionStatus.UnsupportedRequest), "the old address is free now");
        Assert.That(v, Is.EqualTo(0xFF));
        Assert.That(Read(t, CBar + 0x1040, out v), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(v, Is.EqualTo(0x3C));
    }

    [Test]
    public void HostMmio_StopsWhenMemorySpaceEnableIsClearedBehindTheRootComplex()
    {
        var (t, _) = Build();
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        t.C.Config.Write(PciRegs.Command, 2, (uint)PciCommand.BusMaster);
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest), "endpoint MSE clear");
        t.C.Config.Write(PciRegs.Command, 2, (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        // Device-side change of the root port's Command (SetRaw bypasses masks and observers).
        t.Rp1.Function.Config.SetRaw(PciRegs.Command, 2, (uint)PciCommand.BusMaster);
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest), "root port MSE clear");
    }

    [Test]
    public void HostMmio_FollowsABridgeWindowChangedDeviceSide()
    {
        var (t, _) = Build();
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        // Memory Base above Memory Limit: the window is off (§7.5.1.3.8).
        t.Rp1.Function.Config.SetRaw(PciRegs.MemoryBase, 2, 0xFFF0);
        t.Rp1.Function.Config.SetRaw(PciRegs.MemoryLimit, 2, 0);
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }

    [Test]
    public void HostMmio_AnEarlierDecoderThatStartsClaimingTheAddressWins()
    {
        var (t, c) = Build();
        var rciep = new RamRegion(0x1000);
        t.Rciep.MapRegion(0, 0, 0x1000, rciep);
        rciep.Bytes[0] = 0xE1;
        c.Bytes[0] = 0xC1;
        Assert.That(Read(t, CBar, out var v), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(v, Is.EqualTo(0xC1));
        // The integrated endpoint sits on the root bus before the root ports: once its BAR overlaps C's
        // (a misprogramming, but a legal register state), it claims the request first.
        t.Rciep.Config.Write(0x10, 4, (uint)CBar);
        t.Rciep.Config.Write(PciRegs.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.That(Read(t, CBar, out v), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(v, Is.EqualTo(0xE1));
    }

    [Test]
    public void HostMmio_StopsAtALinkDisabledBehindTheRootComplex()
    {
        var (t, _) = Build();
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        int linkControl = CapabilityWalker.FindCapability(t.Rp1.Function.Config, CapabilityIds.PciExpress) + CapabilityWalker.PcieLinkControl;
        t.Rp1.Function.Config.SetBits(linkControl, 2, CapabilityWalker.LinkDisableBit, true);
        Assert.That(Read(t, CBar, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest), "nothing crosses a disabled link (§2.9.1)");
    }

    [Test]
    public void Dma_FollowsBusMasterEnableChangedBehindTheRootComplex()
    {
        var (t, _) = Build();
        var up = t.C.Upstream!;
        Assert.That(up.MemoryWrite(t.C.Bdf, 0x2000, new byte[] { 1 }), Is.True);
        t.Rp1.Function.Config.Write(PciRegs.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.That(up.MemoryWrite(t.C.Bdf, 0x2000, new byte[] { 2 }), Is.False, "root port BME clear");
        Assert.That(SwitchTopology.DeviceStatus(t.Rp1.Function) & CapabilityWalker.UnsupportedRequestDetected, Is.Not.Zero,
            "the port that refused it records the UR");
        t.Rp1.Function.Config.Write(PciRegs.Command, 2, (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
        Assert.That(up.MemoryWrite(t.C.Bdf, 0x2000, new byte[] { 3 }), Is.True);
        t.C.Config.SetRaw(PciRegs.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.That(up.MemoryWrite(t.C.Bdf, 0x2000, new byte[] { 4 }), Is.False, "the function's own BME clear");
        var ram = new byte[1];
        Assert.That(t.Rc.HostMemory.Read(0x2000, ram), Is.True);
        Assert.That(ram[0], Is.EqualTo(3), "only the requests that were allowed reached RAM");
    }

    [Test]
    public void Dma_IntoAWindowSetDeviceSideOnTheWay_IsNotSentBackUp()
    {
        var (t, _) = Build();
        var up = t.C.Upstream!;
        Assert.That(up.MemoryRead(t.C.Bdf, 0x2000, new byte[4]), Is.True);
        // The root port's prefetchable window now covers [0, 1 MiB): an address below it is not forwarded up.
        t.Rp1.Function.Config.SetRaw(PciRegs.PrefetchableBase, 2, 0x1);
        t.Rp1.Function.Config.SetRaw(PciRegs.PrefetchableLimit, 2, 0x1);
        var data = new byte[4];
        Assert.That(up.MemoryRead(t.C.Bdf, 0x2000, data), Is.False);
        Assert.That(data, Is.All.EqualTo(0xFF));
        Assert.That(up.MemoryRead(t.C.Bdf, 0x20_0000, data), Is.True, "outside the window still goes up");
    }

    [Test]
    public void ZeroCopyMap_FollowsBusMasterEnableChangedBehindTheRootComplex()
    {
        var (t, _) = Build();
        var up = t.C.Upstream!;
        Assert.That(up.MapForWrite(t.C.Bdf, 0x3000, 16, out _), Is.EqualTo(DmaMapStatus.Mapped));
        t.Rp1.Function.Config.Write(PciRegs.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.That(up.MapForWrite(t.C.Bdf, 0x3000, 16, out _), Is.EqualTo(DmaMapStatus.Failed));
    }

    [Test]
    public void DmaAndMsiOnTheShortPath_AreTracedLikeAnyOther()
    {
        var log = new RecordingLogger();
        var (t, _) = Build(RecordingLogger.Factory(log, LogLevel.Trace));
        var up = t.C.Upstream!;
        log.Entries.Clear();
        Assert.That(up.MemoryWrite(t.C.Bdf, 0x2000, new byte[] { 1, 2 }), Is.True);
        Assert.That(up.MemoryRead(t.C.Bdf, 0x2000, new byte[2]), Is.True);
        Assert.That(up.MapForWrite(t.C.Bdf, 0x3000, 8, out _), Is.EqualTo(DmaMapStatus.Mapped));
        Assert.That(up.MemoryWrite(t.C.Bdf, 0xFEE0_0000, BitConverter.GetBytes(0x51u)), Is.True);
        var tlps = log.Entries.Where(e => e.Level == LogLevel.Trace && e.Category.Contains("Tlp", StringComparison.OrdinalIgnoreCase))
            .Select(e => e.Message).ToList();
        Assert.That(tlps, Has.Count.EqualTo(4), string.Join("\n", log.Entries.Select(e => $"{e.Category}: {e.Message}")));
        Assert.That(tlps[0], Does.Contain("MWr").And.Contain("host memory"));
        Assert.That(tlps[1], Does.Contain("MRd").And.Contain("host memory"));
        Assert.That(tlps[2], Does.Contain("MWr").And.Contain("host memory"));
        Assert.That(tlps[3], Does.Contain("MWr").And.Contain("interrupt controller"));
    }

    [Test]
    public void MalformedMsi_IsRefusedAndCountedOnce()
    {
        var (t, _) = Build();
        var up = t.C.Upstream!;
        var ic = t.Rc.InterruptController;
        Assert.That(up.MemoryWrite(t.C.Bdf, 0xFEE0_0000, BitConverter.GetBytes(0x51u)), Is.True);
        Assert.That(up.MemoryWrite(t.C.Bdf, 0xFEE0_0000, new byte[2]), Is.False, "not a dword");
        Assert.That(up.MemoryWrite(t.C.Bdf, 0xFEE0_0002, new byte[] { 1, 0 }), Is.False, "not dword aligned");
        Assert.That(ic.TotalMessages, Is.EqualTo(1));
        Assert.That(ic.MalformedMessages, Is.EqualTo(2));
        Assert.That(ic.LastMessage!.Value.RequesterId, Is.EqualTo(t.C.Bdf));
    }

    [Test]
    public void AnIommuSetAfterTheWayUpWasCached_TranslatesEveryRequest()
    {
        var (t, _) = Build();
        var up = t.C.Upstream!;
        Assert.That(up.MemoryWrite(t.C.Bdf, 0x2000, new byte[] { 0x11 }), Is.True);
        Assert.That(up.MapForWrite(t.C.Bdf, 0x2000, 4, out _), Is.EqualTo(DmaMapStatus.Mapped));
        t.Rc.Iommu = new OffsetRemapper(0x10_0000);
        Assert.That(up.MemoryWrite(t.C.Bdf, 0x2000, new byte[] { 0x22 }), Is.True);
        var ram = new byte[1];
        t.Rc.HostMemory.Read(0x10_2000, ram);
        Assert.That(ram[0], Is.EqualTo(0x22), "the write went to the translated address");
        t.Rc.HostMemory.Read(0x2000, ram);
        Assert.That(ram[0], Is.EqualTo(0x11), "and not to the untranslated one");
        Assert.That(up.MapForWrite(t.C.Bdf, 0x2000, 4, out var mapped), Is.EqualTo(DmaMapStatus.Mapped));
        mapped[0] = 0x33;
        t.Rc.HostMemory.Read(0x10_2000, ram);
        Assert.That(ram[0], Is.EqualTo(0x33), "the zero-copy map is of the translated page");
        Assert.That(t.Rc.DmaStallNs, Is.EqualTo(2 * OffsetRemapper.StallNs));
    }

    /// <summary>An IOMMU that moves every DMA up by a fixed offset and costs a fixed stall per translation.</summary>
    sealed class OffsetRemapper(ulong offset) : IDmaRemapper
    {
        public const ulong StallNs = 7;

        public bool TryTranslate(Bdf requester, ulong address, int length, bool write, out ulong hostAddress, out ulong stallNs)
        {
            hostAddress = address + offset;
            stallNs = StallNs;
            return true;
        }

        public InterruptRemapOutcome RemapInterrupt(Bdf requester, ulong address, uint data, out ulong hostAddress, out uint hostData)
        {
            hostAddress = address;
            hostData = data;
            return InterruptRemapOutcome.PassThrough;
        }
    }
}
