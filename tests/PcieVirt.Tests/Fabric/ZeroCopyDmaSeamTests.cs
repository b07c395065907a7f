using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Support;
using static PcieVirt.Tests.Fabric.FabricTestKit;

namespace PcieVirt.Tests.Fabric;

/// <summary>
/// The zero-copy DMA seam (<see cref="IUpstreamPort.MapForWrite"/> / <see cref="IUpstreamPort.MapForRead"/>):
/// granted only for plain host RAM after the same checks as a memory request (§7.5.1.1.3 Bus Master
/// Enable, §2.2.7 4 KiB rule, IOMMU translation), with the same side effects on failure; requests that
/// would go to a peer or the interrupt controller are not issued at all.
/// </summary>
[TestFixture]
public class ZeroCopyDmaSeamTests
{
    static SwitchTopology Ready(RecordingLogger? logs = null) =>
        new SwitchTopology(logs is null ? null : RecordingLogger.Factory(logs, Microsoft.Extensions.Logging.LogLevel.Trace)).ProgramBuses().ProgramMemory();

    [Test]
    public void HostRam_IsMapped_WritesLandInRam_AndTheTlpIsTraced()
    {
        var logs = new RecordingLogger();
        var t = Ready(logs);
        var up = t.B.Upstream!;
        Assert.That(up.MapForWrite(t.B.Bdf, 0x10_2000, 512, out var span), Is.EqualTo(DmaMapStatus.Mapped));
        Assert.That(span.Length, Is.EqualTo(512));
        span.Fill(0x5A);
        var back = new byte[512];
        Assert.That(t.Rc.HostMemory.Read(0x10_2000, back), Is.True);
        Assert.That(back, Is.All.EqualTo(0x5A));
        Assert.That(logs.Entries.Select(e => e.Message), Has.Some.Contains($"MWr requester={t.B.Bdf}").And.Contains("address=0x102000 length=512 upstream to host memory status=SC"));
    }

    [Test]
    public void UntouchedRam_ReadsAsZeros_WithoutAllocatingIt()
    {
        var t = Ready();
        int pages = t.Rc.HostMemory.AllocatedPages;
        Assert.That(t.B.Upstream!.MapForRead(t.B.Bdf, 0x20_0000, 4096, out var span), Is.EqualTo(DmaMapStatus.Mapped));
        Assert.That(span.ToArray(), Is.All.Zero);
        Assert.That(t.Rc.HostMemory.AllocatedPages, Is.EqualTo(pages));
    }

    [Test]
    public void PeerBar_And_MsiRange_AreNotMapped_AndNothingIsIssued()
    {
        var t = Ready();
        var up = t.B.Upstream!;
        ushort status = t.B.Config.Read16(PciRegs.Status);
        Assert.That(up.MapForWrite(t.B.Bdf, 0xC000_0000, 16, out _), Is.EqualTo(DmaMapStatus.Unavailable), "A0's BAR0, a peer below the switch");
        Assert.That(up.MapForWrite(t.B.Bdf, 0xFEE0_0000, 4, out _), Is.EqualTo(DmaMapStatus.Unavailable), "the MSI range");
        Assert.That(up.MapForRead(t.B.Bdf, 0xC000_0000, 16, out _), Is.EqualTo(DmaMapStatus.Unavailable));
        Assert.That(t.B.Config.Read16(PciRegs.Status), Is.EqualTo(status));
        Assert.That(SwitchTopology.DeviceStatus(t.Dsp1.Function) & 0x8, Is.Zero, "no UR detected on the way");
    }

    [Test]
    public void BusMasterClear_FailsLikeAMemoryRead_ReceivedMasterAbort()
    {
        var t = Ready();
        Command(t.Rc, t.B, PciCommand.MemorySpace);
        Assert.That(t.B.Upstream!.MapForRead(t.B.Bdf, 0x10_0000, 64, out _), Is.EqualTo(DmaMapStatus.Failed));
        Assert.That(t.B.Config.Read16(PciRegs.Status) & (ushort)PciStatus.ReceivedMasterAbort, Is.Not.Zero);
    }

    [Test]
    public void BridgeWithoutBusMaster_OrOutsideRam_OrCrossingAPage_Fails()
    {
        var t = Ready();
        var up = t.B.Upstream!;
        Assert.That(up.MapForWrite(t.B.Bdf, 0x10_0F00, 0x200, out _), Is.EqualTo(DmaMapStatus.Failed), "crosses a 4 KiB boundary");
        Assert.That(up.MapForWrite(t.B.Bdf, 0x2000_0000, 64, out _), Is.EqualTo(DmaMapStatus.Failed), "RAM ends at 256 MiB");
        Command(t.Rc, t.Dsp1.Function, PciCommand.MemorySpace);
        Assert.That(up.MapForWrite(t.B.Bdf, 0x10_0000, 64, out _), Is.EqualTo(DmaMapStatus.Failed), "the downstream port's Bus Master Enable is clear");
    }

    sealed class ShiftIommu : IDmaRemapper
    {
        public bool TryTranslate(Bdf requester, ulong address, int length, bool write, out ulong hostAddress, out ulong stallNs)
        {
            stallNs = 7;
            hostAddress = address + 0x100_0000;
            return address < 0x100_0000;
        }

        public InterruptRemapOutcome RemapInterrupt(Bdf requester, ulong address, uint data, out ulong hostAddress, out uint hostData)
        {
            hostAddress = address;
            hostData = data;
            return InterruptRemapOutcome.PassThrough;
        }
    }

    [Test]
    public void WithAnIommu_TheMappedRamIsTheTranslatedPage_AndFaultsFail()
    {
        var t = Ready();
        t.Rc.Iommu = new ShiftIommu();
        var up = t.B.Upstream!;
        Assert.That(up.MapForWrite(t.B.Bdf, 0x3000, 8, out var span), Is.EqualTo(DmaMapStatus.Mapped));
        span.Fill(0xC3);
        var back = new byte[8];
        t.Rc.HostMemory.Read(0x100_3000, back);
        Assert.That(back, Is.All.EqualTo(0xC3), "written at the translated address");
        t.Rc.HostMemory.Read(0x3000, back);
        Assert.That(back, Is.All.Zero, "not at the I/O virtual address");
        Assert.That(t.Rc.DmaStallNs, Is.EqualTo(7UL));
        Assert.That(up.MapForWrite(t.B.Bdf, 0x200_0000, 8, out _), Is.EqualTo(DmaMapStatus.Failed), "an IOMMU fault");
    }
}
