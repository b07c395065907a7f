using PcieVirt.Hypervisor.Iommu;
using PcieVirt.Pci;
using PcieVirt.Tests.Support;
using Vtd = PcieVirt.Hypervisor.Iommu.Iommu;

namespace PcieVirt.Tests.Hypervisor.Iommu;

/// <summary>DMA remapping: domains, translation, faults and the IOTLB.</summary>
[TestFixture]
public class IommuDmaTests
{
    const ulong Page = 4096;
    static readonly Bdf Vf = new(3, 0, 1);
    static readonly Bdf Pf = new(3, 0, 0);

    [Test]
    public void MappedIova_TranslatesWithinItsPage()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("guest1");
        d.Map(0x1000_0000, 0x8000_0000, 4 * Page);
        iommu.Attach(Vf, d);
        Assert.That(iommu.TryTranslate(Vf, 0x1000_2010, 64, write: true, out ulong hpa, out _), Is.True);
        Assert.That(hpa, Is.EqualTo(0x8000_2010UL));
        Assert.That(iommu.DomainOf(Vf), Is.SameAs(d));
        Assert.That(iommu.TotalFaults, Is.Zero);
    }

    [Test]
    public void RequesterWithoutDomain_Faults()
    {
        var iommu = new Vtd();
        var faults = new List<IommuFault>();
        iommu.FaultRecorded += faults.Add;
        Assert.That(iommu.TryTranslate(Vf, 0x1000, 4, write: false, out _, out _), Is.False);
        Assert.That(faults, Is.EqualTo(new[] { new IommuFault(Vf, 0x1000, false, IommuFaultReason.NoDomain) }));
        Assert.That(iommu.TotalFaults, Is.EqualTo(1));
    }

    [Test]
    public void UnmappedIova_Faults_AndIsNotCached()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, Page);
        iommu.Attach(Vf, d);
        Assert.That(iommu.TryTranslate(Vf, Page, 8, write: false, out _, out _), Is.False);
        Assert.That(iommu.LastFault, Is.EqualTo(new IommuFault(Vf, Page, false, IommuFaultReason.NotMapped)));
        Assert.That(iommu.IotlbContains(d, Page), Is.False);
    }

    [Test]
    public void WriteToReadOnlyPage_Faults_ReadSucceeds()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, Page, read: true, write: false);
        d.Map(Page, 0x20_0000, Page, read: false, write: true);
        iommu.Attach(Vf, d);
        Assert.That(iommu.TryTranslate(Vf, 0x10, 4, write: false, out _, out _), Is.True);
        Assert.That(iommu.TryTranslate(Vf, 0x10, 4, write: true, out _, out _), Is.False, "write to a read-only page, now an IOTLB hit");
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.WriteNotPermitted));
        Assert.That(iommu.TryTranslate(Vf, Page, 4, write: false, out _, out _), Is.False);
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.ReadNotPermitted));
        Assert.That(iommu.TryTranslate(Vf, Page, 4, write: true, out ulong hpa, out _), Is.True);
        Assert.That(hpa, Is.EqualTo(0x20_0000UL));
    }

    [Test]
    public void RequestCrossingAPage_IsMalformed()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, 2 * Page);
        iommu.Attach(Vf, d);
        Assert.That(iommu.TryTranslate(Vf, Page - 4, 8, write: false, out _, out _), Is.False);
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.Malformed));
    }

    [Test]
    public void PassThrough_IsIdentity_WithoutIotlb()
    {
        var iommu = new Vtd();
        iommu.AttachPassThrough(Pf);
        Assert.That(iommu.TryTranslate(Pf, 0x1234_5678, 8, write: true, out ulong hpa, out ulong stall), Is.True);
        Assert.That((hpa, stall), Is.EqualTo((0x1234_5678UL, 0UL)));
        Assert.That(iommu.IotlbMisses + iommu.IotlbHits, Is.Zero);
        Assert.That(iommu.PassThroughTranslations, Is.EqualTo(1));
        Assert.Throws<InvalidOperationException>(() => iommu.PassThroughDomain.Map(0, 0, Page));
    }

    [Test]
    public void Detach_MakesLaterRequestsFault_AndInvalidatesTheDomain()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, Page);
        iommu.Attach(Vf, d);
        Assert.That(iommu.TryTranslate(Vf, 0, 4, false, out _, out _), Is.True);
        Assert.That(iommu.IotlbContains(d, 0), Is.True);
        iommu.Detach(Vf);
        Assert.That(iommu.IotlbContains(d, 0), Is.False);
        Assert.That(iommu.TryTranslate(Vf, 0, 4, false, out _, out _), Is.False);
        Assert.That(iommu.LastFault!.Value.Reason, Is.EqualTo(IommuFaultReason.NoDomain));
    }

    [Test]
    public void MapOverlap_AndBadArguments_AreRejected()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("g");
        d.Map(0x10_0000, 0x50_0000, 2 * Page);
        var ex = Assert.Throws<InvalidOperationException>(() => d.Map(0x10_1000, 0x60_0000, Page))!;
        Assert.That(ex.Message, Does.Contain("0x101000"));
        Assert.Throws<ArgumentException>(() => d.Map(0, 0x60_0000, Page, read: false, write: false));
        Assert.Throws<ArgumentException>(() => d.Map(0x800, 0x60_0000, Page));
        Assert.Throws<ArgumentException>(() => new Vtd().Attach(Vf, d), "a domain of another IOMMU");
        Assert.That(d.MappedPages, Is.EqualTo(2));
    }

    [Test]
    public void Iotlb_MissThenHit_WithPenaltyOnlyOnTheMiss()
    {
        var iommu = new Vtd(iotlbEntries: 4, iotlbMissPenaltyNs: 300);
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, 8 * Page);
        iommu.Attach(Vf, d);
        iommu.TryTranslate(Vf, 0x10, 4, false, out _, out ulong first);
        iommu.TryTranslate(Vf, 0x20, 4, true, out _, out ulong second);
        Assert.That((first, second), Is.EqualTo((300UL, 0UL)));
        Assert.That((iommu.IotlbMisses, iommu.IotlbHits), Is.EqualTo((1L, 1L)));
        Assert.That(new Vtd().IotlbMissPenaltyNs, Is.EqualTo(280UL), "default: latency-anchors §3");
        Assert.That(new Vtd().IotlbCapacity, Is.EqualTo(64));
    }

    [Test]
    public void FromTiming_TakesCapacityAndPenaltyFromTheTable()
    {
        var t = new PcieVirt.Hypervisor.Timing.TimingParameters()
            .With(PcieVirt.Hypervisor.Timing.TimingParameter.IotlbEntries, 128)
            .With(PcieVirt.Hypervisor.Timing.TimingParameter.IotlbMissPenalty, 330);
        var iommu = Vtd.FromTiming(t);
        Assert.That((iommu.IotlbCapacity, iommu.IotlbMissPenaltyNs), Is.EqualTo((128, 330UL)));
    }

    [Test]
    public void Iotlb_ReplacesTheLeastRecentlyUsedEntry()
    {
        var iommu = new Vtd(iotlbEntries: 3);
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, 8 * Page);
        iommu.Attach(Vf, d);
        void Touch(int page) => iommu.TryTranslate(Vf, (ulong)page * Page, 4, false, out _, out _);
        Touch(0); Touch(1); Touch(2); // fills: LRU order 0,1,2
        Touch(0);                     // 0 becomes most recent: order 1,2,0
        Touch(3);                     // evicts 1
        Assert.That(iommu.IotlbContains(d, 1 * Page), Is.False);
        Assert.That(iommu.IotlbContains(d, 0), Is.True);
        Assert.That(iommu.IotlbContains(d, 2 * Page), Is.True);
        Assert.That(iommu.IotlbContains(d, 3 * Page), Is.True);
        Assert.That((iommu.IotlbMisses, iommu.IotlbHits, iommu.IotlbEvictions), Is.EqualTo((4L, 1L, 1L)));
        Touch(1);                     // miss again, evicts 2 (order was 2,0,3)
        Assert.That(iommu.IotlbContains(d, 2 * Page), Is.False);
        Assert.That(iommu.IotlbMisses, Is.EqualTo(5));
    }

    [Test]
    public void Iotlb_IsTaggedByDomain()
    {
        var iommu = new Vtd();
        var a = iommu.CreateDomain("a");
        var b = iommu.CreateDomain("b");
        a.Map(0, 0x10_0000, Page);
        b.Map(0, 0x20_0000, Page);
        iommu.Attach(Pf, a);
        iommu.Attach(Vf, b);
        iommu.TryTranslate(Pf, 0x8, 4, false, out ulong ha, out _);
        iommu.TryTranslate(Vf, 0x8, 4, false, out ulong hb, out _);
        Assert.That((ha, hb), Is.EqualTo((0x10_0008UL, 0x20_0008UL)), "same IOVA, different domains");
        Assert.That(iommu.IotlbMisses, Is.EqualTo(2));
    }

    [Test]
    public void Unmap_InvalidatesOnlyThosePages()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, 4 * Page);
        iommu.Attach(Vf, d);
        for (ulong p = 0; p < 4; p++) iommu.TryTranslate(Vf, p * Page, 4, false, out _, out _);
        Assert.That(iommu.IotlbCount, Is.EqualTo(4));
        d.Unmap(Page, 2 * Page);
        Assert.That(iommu.IotlbCount, Is.EqualTo(2));
        Assert.That(iommu.IotlbInvalidations, Is.EqualTo(2));
        Assert.That(iommu.TryTranslate(Vf, Page, 4, false, out _, out _), Is.False, "no stale translation survives the unmap");
        Assert.That(iommu.TryTranslate(Vf, 3 * Page, 4, false, out _, out ulong stall), Is.True);
        Assert.That(stall, Is.Zero, "page 3 stayed cached");
        // Remapping the IOVA to another frame is seen at once.
        d.Map(Page, 0x90_0000, Page);
        Assert.That(iommu.TryTranslate(Vf, Page + 4, 4, false, out ulong hpa, out _), Is.True);
        Assert.That(hpa, Is.EqualTo(0x90_0004UL));
    }

    [Test]
    public void Describe_ListsContextsRunsAndInterruptEntries()
    {
        var iommu = new Vtd();
        var d = iommu.CreateDomain("guest1");
        d.Map(0, 0x20_0000, 4 * Page);
        d.Map(4 * Page, 0x90_0000, Page, write: false); // not host-contiguous and read-only: a second run
        iommu.Attach(Vf, d);
        iommu.AttachPassThrough(Pf);
        iommu.SetIrte(3, InterruptRemapEntry.Remapped(Vf, 0x61, 2));
        var lines = iommu.Describe().Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.That(lines, Does.Contain($"  {Pf} -> pass-through (pass-through)"));
        Assert.That(lines, Does.Contain($"  {Vf} -> guest1 (domain 1, 5 pages)"));
        Assert.That(lines, Does.Contain("  0x0000000000-0x0000003fff -> host 0x0000200000 rw"));
        Assert.That(lines, Does.Contain("  0x0000004000-0x0000004fff -> host 0x0000900000 r-"));
        Assert.That(lines, Does.Contain($"  3: source {Vf} remapped -> vector 0x61 destination 2"));
    }

    [Test]
    public void FaultLog_KeepsTheMostRecent_AndTheTotal()
    {
        var iommu = new Vtd(faultLogDepth: 3);
        for (ulong i = 0; i < 5; i++) iommu.TryTranslate(Vf, i * Page, 4, false, out _, out _);
        Assert.That(iommu.TotalFaults, Is.EqualTo(5));
        Assert.That(iommu.RecentFaults().Select(f => f.Address), Is.EqualTo(new[] { 2 * Page, 3 * Page, 4 * Page }));
    }

    [Test]
    public void Fault_IsLoggedAsWarning()
    {
        var rec = new RecordingLogger();
        using var factory = RecordingLogger.Factory(rec, Microsoft.Extensions.Logging.LogLevel.Debug);
        var iommu = new Vtd(logger: factory.CreateLogger("iommu"));
        iommu.TryTranslate(Vf, 0xABC000, 4, true, out _, out _);
        Assert.That(rec.Entries, Has.Some.Matches<(string Category, Microsoft.Extensions.Logging.LogLevel Level, int EventId, string Message)>(
            e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains("0xabc000") && e.Message.Contains("NoDomain")
                && e.Message.Contains(Vf.ToString())));
    }

    [Test]
    public void TryTranslate_AllocatesNothing_OnHitsMissesAndFaults()
    {
        var iommu = new Vtd(iotlbEntries: 8);
        var d = iommu.CreateDomain("g");
        d.Map(0, 0x10_0000, 32 * Page);
        iommu.Attach(Vf, d);
        iommu.AttachPassThrough(Pf);
        ulong sink = 0;
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                iommu.TryTranslate(Vf, (ulong)(i % 32) * Page, 64, (i & 1) != 0, out ulong h, out ulong s); // misses and evictions
                sink += h + s;
                iommu.TryTranslate(Vf, (ulong)(i % 32) * Page + 64, 64, false, out h, out _);               // hit
                sink += h;
                iommu.TryTranslate(Pf, 0x5000, 8, true, out h, out _);
                sink += h;
                iommu.TryTranslate(Vf, 0x4000_0000, 8, true, out _, out _);                                  // fault
            }
        });
        Assert.That(bytes, Is.Zero);
        Assert.That(sink, Is.Not.Zero);
        Assert.That(iommu.IotlbEvictions, Is.GreaterThan(0));
    }
}
