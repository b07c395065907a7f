using PcieVirt.Hypervisor.Memory;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Memory;

/// <summary>The EPT model: translation kinds, permissions, overlaps, violations, listing.</summary>
[TestFixture]
public class EptTests
{
    const ulong Page = 4096;

    [Test]
    public void Ram_TranslatesEveryPageWithItsOffset()
    {
        var ept = new Ept();
        ept.MapRam(0x10_0000, 0x8000_0000, 4 * Page);
        var t = ept.Translate(0x10_2abc, EptAccess.Read);
        Assert.That(t.Kind, Is.EqualTo(EptResultKind.Ram));
        Assert.That(t.HostAddress, Is.EqualTo(0x8000_2abcUL));
        Assert.That(ept.Translate(0x10_3fff, EptAccess.Write).HostAddress, Is.EqualTo(0x8000_3fffUL));
        Assert.That(ept.Translate(0x10_4000, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Violation), "one past the end");
        Assert.That(ept.Translate(0x0f_ffff, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Violation), "one before the start");
    }

    [Test]
    public void ReadOnlyRam_ReadsButWriteIsAViolation()
    {
        var ept = new Ept();
        ept.MapRam(0, 0x20_0000, Page, writable: false);
        Assert.That(ept.Translate(0x10, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Ram));
        var w = ept.Translate(0x10, EptAccess.Write);
        Assert.That(w.Kind, Is.EqualTo(EptResultKind.Violation));
        Assert.That(w.TrapRegion, Is.EqualTo(-1));
        Assert.That(ept.Violations, Is.EqualTo(1));
        Assert.That(ept.Translations, Is.EqualTo(2));
    }

    [Test]
    public void Passthrough_GoesToTheDeviceAddressForReadsAndWrites()
    {
        var ept = new Ept();
        ept.MapMmioPassthrough(0xFEB0_0000, 0xC010_0000, 4 * Page);
        foreach (var a in new[] { EptAccess.Read, EptAccess.Write })
        {
            var t = ept.Translate(0xFEB0_1008, a);
            Assert.That(t.Kind, Is.EqualTo(EptResultKind.MmioPassthrough));
            Assert.That(t.HostAddress, Is.EqualTo(0xC010_1008UL));
        }
        Assert.That(ept.Violations, Is.Zero);
    }

    [Test]
    public void Trap_ReportsRegionIdAndOffsetWithinTheRegion()
    {
        var ept = new Ept();
        int a = ept.MapMmioTrap(0xFE00_0000, 2 * Page, "emulated-nvme");
        int b = ept.MapMmioTrap(0xFE00_2000, Page, "virtio-blk");
        Assert.That(a, Is.Not.EqualTo(b));
        var t = ept.Translate(0xFE00_1004, EptAccess.Write);
        Assert.That(t.Kind, Is.EqualTo(EptResultKind.MmioTrap));
        Assert.That(t.TrapRegion, Is.EqualTo(a));
        Assert.That(t.RegionOffset, Is.EqualTo(0x1004UL), "offset from the region start, across its second page");
        var u = ept.Translate(0xFE00_2010, EptAccess.Read);
        Assert.That((u.TrapRegion, u.RegionOffset), Is.EqualTo((b, 0x10UL)));
        Assert.That(ept.TrapRegions[b].Name, Is.EqualTo("virtio-blk"));
    }

    [Test]
    public void Unmapped_IsAViolation_AndCounted()
    {
        var ept = new Ept();
        Assert.That(ept.Translate(0x1234, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Violation));
        Assert.That(ept.Translate(ulong.MaxValue, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Violation), "beyond 48 bits");
        Assert.That(ept.Violations, Is.EqualTo(2));
    }

    [Test]
    public void Overlap_IsRejectedWithItsAddress_AndChangesNothing()
    {
        var ept = new Ept();
        ept.MapRam(0x10_0000, 0x50_0000, 2 * Page);
        var ex = Assert.Throws<InvalidOperationException>(() => ept.MapMmioTrap(0x0F_F000, 4 * Page, "dev"))!;
        Assert.That(ex.Message, Does.Contain("0x100000").And.Contain("RAM"));
        Assert.That(ept.Translate(0x0F_F000, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Violation), "no page of the refused map was added");
        Assert.That(ept.TrapRegions, Is.Empty);
        Assert.Throws<InvalidOperationException>(() => ept.MapMmioPassthrough(0x10_1000, 0xC000_0000, Page));
        Assert.That(ept.MappedPages, Is.EqualTo(2));
    }

    [Test]
    public void Misaligned_Empty_OrTooLarge_Rejected()
    {
        var ept = new Ept();
        Assert.Throws<ArgumentException>(() => ept.MapRam(0x800, 0, Page));
        Assert.Throws<ArgumentException>(() => ept.MapRam(0, 0x800, Page));
        Assert.Throws<ArgumentException>(() => ept.MapRam(0, 0, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => ept.MapRam(0, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ept.MapRam(1UL << 48, 0, Page));
        Assert.That(ept.MappedPages, Is.Zero);
    }

    [Test]
    public void Unmap_RemovesPages_AndAllowsRemapping()
    {
        var ept = new Ept();
        ept.MapRam(0, 0x10_0000, 4 * Page);
        ept.Unmap(Page, 2 * Page);
        Assert.That(ept.Translate(0, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Ram));
        Assert.That(ept.Translate(Page, EptAccess.Read).Kind, Is.EqualTo(EptResultKind.Violation));
        Assert.That(ept.Translate(3 * Page, EptAccess.Read).HostAddress, Is.EqualTo(0x10_3000UL));
        ept.MapMmioPassthrough(Page, 0xC000_0000, 2 * Page);
        Assert.That(ept.Translate(Page + 4, EptAccess.Write).HostAddress, Is.EqualTo(0xC000_0004UL));
        Assert.That(ept.MappedPages, Is.EqualTo(4));
    }

    [Test]
    public void Translation_WorksAcrossTopLevelEntries()
    {
        // 0x80_0000_0000 is the first address of the second top-level (bits 47:39) entry.
        var ept = new Ept();
        ept.MapRam(0x7F_FFFF_F000, 0x1000_0000, 2 * Page);
        Assert.That(ept.Translate(0x7F_FFFF_FFFF, EptAccess.Read).HostAddress, Is.EqualTo(0x1000_0FFFUL));
        Assert.That(ept.Translate(0x80_0000_0000, EptAccess.Read).HostAddress, Is.EqualTo(0x1000_1000UL));
    }

    [Test]
    public void Describe_ListsOneLinePerContiguousRun()
    {
        var ept = new Ept();
        ept.MapRam(0, 0x1_0000_0000, 16 * Page);
        ept.MapRam(16 * Page, 0x2_0000_0000, Page, writable: false); // not host-contiguous: new run
        ept.MapMmioPassthrough(0xFEB0_0000, 0xC000_0000, 4 * Page);
        ept.MapMmioTrap(0xFE00_0000, 2 * Page, "uart");
        var lines = ept.Describe().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).ToArray();
        Assert.That(lines, Is.EqualTo(new[]
        {
            "0x0000000000-0x000000ffff  RAM rw  -> host 0x0100000000",
            "0x0000010000-0x0000010fff  RAM ro  -> host 0x0200000000",
            "0x00fe000000-0x00fe001fff  MMIO trap #0 'uart'  (exits)",
            "0x00feb00000-0x00feb03fff  MMIO pass-through  -> host 0x00c0000000",
        }));
        Assert.That(new Ept().Describe().Trim(), Is.EqualTo("(nothing mapped)"));
    }

    [Test]
    public void Translate_AllocatesNothing()
    {
        var ept = new Ept();
        ept.MapRam(0, 0x10_0000, 64 * Page);
        ept.MapMmioTrap(0xFE00_0000, Page, "t");
        ept.MapMmioPassthrough(0xFEB0_0000, 0xC000_0000, Page);
        ulong sink = 0;
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                sink += ept.Translate((ulong)(i % 64) * Page, EptAccess.Write).HostAddress;
                sink += ept.Translate(0xFE00_0010, EptAccess.Read).RegionOffset;
                sink += ept.Translate(0xFEB0_0010, EptAccess.Read).HostAddress;
                sink += (ulong)ept.Translate(0x4000_0000, EptAccess.Read).Kind;
            }
        });
        Assert.That(bytes, Is.Zero);
        Assert.That(sink, Is.Not.Zero);
    }
}
