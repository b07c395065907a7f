using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Virtio;
using static PcieVirt.Tests.Hypervisor.Virtio.VirtioTestKit;

namespace PcieVirt.Tests.Hypervisor.Virtio;

/// <summary>Sizes, offsets and alignment of the split virtqueue (VIRTIO 1.x §2.7), checked against hand-computed values.</summary>
[TestFixture]
public class SplitVirtqueueLayoutTests
{
    // Queue size → (descriptor table 16·n, available ring 6 + 2·n, used ring 6 + 8·n, used_event at 4 + 2·n, avail_event at 4 + 8·n)
    [TestCase(1, 16, 8, 14, 6, 12)]
    [TestCase(8, 128, 22, 70, 20, 68)]
    [TestCase(256, 4096, 518, 2054, 516, 2052)]
    [TestCase(32768, 524288, 65542, 262150, 65540, 262148)]
    public void Sizes_And_EventFieldOffsets_FollowTheSpecFormulas(int qs, int desc, int avail, int used, int usedEvent, int availEvent)
    {
        Assert.Multiple(() =>
        {
            Assert.That(SplitVirtqueueLayout.DescriptorTableSize(qs), Is.EqualTo(desc));
            Assert.That(SplitVirtqueueLayout.AvailableRingSize(qs), Is.EqualTo(avail));
            Assert.That(SplitVirtqueueLayout.UsedRingSize(qs), Is.EqualTo(used));
            Assert.That(SplitVirtqueueLayout.UsedEventOffset(qs), Is.EqualTo(usedEvent));
            Assert.That(SplitVirtqueueLayout.AvailEventOffset(qs), Is.EqualTo(availEvent));
            // The event fields are the last two bytes of their part.
            Assert.That(SplitVirtqueueLayout.UsedEventOffset(qs) + 2, Is.EqualTo(avail));
            Assert.That(SplitVirtqueueLayout.AvailEventOffset(qs) + 2, Is.EqualTo(used));
        });
    }

    [Test]
    public void RingEntryOffsets_AreAfterFlagsAndIdx()
    {
        Assert.Multiple(() =>
        {
            Assert.That(SplitVirtqueueLayout.AvailRingEntryOffset(0), Is.EqualTo(4));
            Assert.That(SplitVirtqueueLayout.AvailRingEntryOffset(3), Is.EqualTo(10));
            Assert.That(SplitVirtqueueLayout.UsedElementOffset(0), Is.EqualTo(4));
            Assert.That(SplitVirtqueueLayout.UsedElementOffset(3), Is.EqualTo(28));
        });
    }

    // Legacy layout (§2.7.2): ALIGN(16n + 6 + 2n) + ALIGN(6 + 8n), with ALIGN to QueueAlign.
    // n = 256, align 4096: 4096 + 518 = 4614 → 8192; 2054 → 4096; total 12288.
    // n = 128, align 4096: 2048 + 262 = 2310 → 4096; 1030 → 4096; total 8192.
    // n = 4, align 64: 64 + 14 = 78 → 128; 38 → 64; total 192.
    [TestCase(256, 4096, 8192, 12288)]
    [TestCase(128, 4096, 4096, 8192)]
    [TestCase(4, 64, 128, 192)]
    public void LegacyContiguousLayout_PadsBothHalvesToQueueAlign(int qs, int align, long usedOffset, long total)
    {
        Assert.That(SplitVirtqueueLayout.LegacyUsedRingOffset(qs, align), Is.EqualTo(usedOffset));
        Assert.That(SplitVirtqueueLayout.LegacyTotalSize(qs, align), Is.EqualTo(total));
    }

    [TestCase(0, false)]
    [TestCase(1, true)]
    [TestCase(2, true)]
    [TestCase(3, false)]
    [TestCase(256, true)]
    [TestCase(384, false)]
    [TestCase(32768, true)]
    [TestCase(65536, false)]
    [TestCase(-4, false)]
    public void QueueSize_MustBeAPowerOfTwo_UpTo32768(int qs, bool valid) =>
        Assert.That(SplitVirtqueueLayout.IsValidQueueSize(qs), Is.EqualTo(valid));

    [TestCase(8)]
    [TestCase(256)]
    public void Driver_PlacesEachPartAtItsAlignment_WithoutOverlap(int qs)
    {
        var (memory, allocator) = Guest();
        allocator.Allocate(3, 1); // knock the next block off any natural alignment
        var vq = new VirtqueueDriver(allocator, qs);
        var a = vq.Addresses;
        Assert.Multiple(() =>
        {
            Assert.That(a.DescriptorTable % 16, Is.Zero);
            Assert.That(a.AvailableRing % 2, Is.Zero);
            Assert.That(a.UsedRing % 4, Is.Zero);
            Assert.That(a.AvailableRing, Is.GreaterThanOrEqualTo(a.DescriptorTable + (ulong)(16 * qs)));
            Assert.That(a.UsedRing, Is.GreaterThanOrEqualTo(a.AvailableRing + (ulong)(6 + 2 * qs)));
            Assert.That(a.Validate(memory), Is.Null);
        });
    }

    [Test]
    public void Descriptor_IsWrittenLittleEndian_AtItsFieldOffsets()
    {
        var (memory, allocator) = Guest();
        var vq = new VirtqueueDriver(allocator, 8);
        Assert.That(vq.TryAddChain([new VirtqBuffer(0x1122334455667788, 0xAABBCCDD)], [new VirtqBuffer(0x5000, 1)], out ushort head), Is.True);
        ulong d0 = vq.Addresses.DescriptorTable + (ulong)(16 * head);
        var raw = new byte[16];
        memory.Read(d0, raw);
        // addr le64, len le32, flags le16 = NEXT (1), next le16 = 1 (the next free descriptor).
        Assert.That(raw, Is.EqualTo(new byte[]
        {
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
            0xDD, 0xCC, 0xBB, 0xAA,
            0x01, 0x00,
            0x01, 0x00,
        }));
        memory.Read(d0 + 16, raw);
        Assert.That(raw[12..14], Is.EqualTo(new byte[] { 0x02, 0x00 }), "second descriptor: WRITE, no NEXT");
        // Nothing is visible before Publish: the available ring's idx is still 0; its slot 0 holds the head.
        Assert.That(ReadU16(memory, vq.Addresses.AvailableRing + 2), Is.Zero);
        Assert.That(ReadU16(memory, vq.Addresses.AvailableRing + 4), Is.EqualTo(head));
        vq.Publish();
        Assert.That(ReadU16(memory, vq.Addresses.AvailableRing + 2), Is.EqualTo(1));
    }

    [Test]
    public void Validate_NamesEachBadAddress()
    {
        var memory = new HostMemory(0x10000);
        Assert.Multiple(() =>
        {
            Assert.That(new VirtqueueAddresses(0x1000, 0x2000, 0x3000, 8).Validate(memory), Is.Null);
            Assert.That(new VirtqueueAddresses(0x1000, 0x2000, 0x3000, 6).Validate(memory), Does.Contain("power of two"));
            Assert.That(new VirtqueueAddresses(0x1008, 0x2000, 0x3000, 8).Validate(memory), Does.Contain("16-byte"));
            Assert.That(new VirtqueueAddresses(0x1000, 0x2001, 0x3000, 8).Validate(memory), Does.Contain("2-byte"));
            Assert.That(new VirtqueueAddresses(0x1000, 0x2000, 0x3002, 8).Validate(memory), Does.Contain("4-byte"));
            Assert.That(new VirtqueueAddresses(0xFFF0, 0x2000, 0x3000, 8).Validate(memory), Does.Contain("descriptor table"));
            Assert.That(new VirtqueueAddresses(0x1000, 0xFFF0, 0x3000, 8).Validate(memory), Does.Contain("available ring"));
            Assert.That(new VirtqueueAddresses(0x1000, 0x2000, 0xFFF0, 8).Validate(memory), Does.Contain("used ring"));
        });
    }
}

/// <summary>The event-index window test (§2.7.7.2, §2.7.10.1) with 16-bit wraparound.</summary>
[TestFixture]
public class VirtqEventIndexTests
{
    // (event, new, old, notify): notify iff event ∈ {old, old+1, …, new-1} modulo 65536.
    [TestCase(0, 1, 0, true)]       // first entry ever, driver asked about index 0
    [TestCase(0, 5, 0, true)]       // batch of five covering index 0
    [TestCase(4, 5, 0, true)]       // last entry of the batch
    [TestCase(5, 5, 0, false)]      // the entry asked about is not written yet
    [TestCase(10, 5, 0, false)]     // asked about a later entry
    [TestCase(3, 5, 4, false)]      // index 3 went out in an earlier window
    [TestCase(0, 0, 0, false)]      // nothing published
    [TestCase(65535, 1, 65534, true)]   // window 65534, 65535, 0 across the wrap
    [TestCase(0, 1, 65534, true)]
    [TestCase(1, 1, 65534, false)]
    [TestCase(65533, 1, 65534, false)]
    [TestCase(65535, 0, 65535, true)]   // one entry at 65535, idx wraps to 0
    public void NeedsNotification_IsTheHalfOpenWindow_Modulo65536(int evt, int newIdx, int oldIdx, bool expected) =>
        Assert.That(VirtqEventIndex.NeedsNotification((ushort)evt, (ushort)newIdx, (ushort)oldIdx), Is.EqualTo(expected));

    [Test]
    public void NeedsNotification_AgreesWithAPlainSetMembership_ForEveryWindowUpTo64()
    {
        // Exhaustive against an independent formulation: list the indices written and look for the event among them.
        foreach (int old in new[] { 0, 100, 65500, 65535 })
            for (int n = 0; n <= 64; n++)
                foreach (int evt in new[] { old - 1, old, old + 1, old + n - 1, old + n, old + 63, old + 200 })
                {
                    bool inWindow = false;
                    for (int k = 0; k < n; k++) inWindow |= (ushort)(old + k) == (ushort)evt;
                    Assert.That(VirtqEventIndex.NeedsNotification((ushort)evt, (ushort)(old + n), (ushort)old), Is.EqualTo(inWindow),
                        $"event {(ushort)evt}, old {old}, count {n}");
                }
    }
}
