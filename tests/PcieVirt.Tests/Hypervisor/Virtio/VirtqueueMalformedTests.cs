using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Virtio;
using static PcieVirt.Hypervisor.Virtio.VirtqDescriptorFlags;
using static PcieVirt.Tests.Hypervisor.Virtio.VirtioTestKit;

namespace PcieVirt.Tests.Hypervisor.Virtio;

/// <summary>
/// Hostile rings: every malformed structure marks the queue broken (DEVICE_NEEDS_RESET), throws nothing, and
/// writes nothing to guest memory.
/// </summary>
[TestFixture]
public class VirtqueueMalformedTests
{
    const int Qs = 8;
    const ulong Desc = 0x1000, Avail = 0x2000, Used = 0x3000, Buf = 0x8000, Indirect = 0x6000;
    const ulong Features = VirtioFeatures.Version1 | VirtioFeatures.EventIdx | VirtioFeatures.IndirectDesc;

    static readonly (string Name, Action<RawRing> Build, string Reason)[] Cases =
    [
        ("head out of range", r => r.MakeAvailable(Qs), "names descriptor 8"),
        ("next out of range", r => { r.Descriptor(0, Buf, 16, Next, 9); r.MakeAvailable(0); }, "index 9 out of range"),
        ("loop of two", r => { r.Descriptor(0, Buf, 16, Next, 1); r.Descriptor(1, Buf, 16, Next, 0); r.MakeAvailable(0); }, "loop or too long"),
        ("self loop", r => { r.Descriptor(3, Buf, 16, Next, 3); r.MakeAvailable(3); }, "loop or too long"),
        ("buffer beyond memory", r => { r.Descriptor(0, 0xFFF8, 16, None, 0); r.MakeAvailable(0); }, "outside guest memory"),
        ("buffer length above 2 GiB", r => { r.Descriptor(0, Buf, 0x8000_0000, None, 0); r.MakeAvailable(0); }, "outside guest memory"),
        ("address wraps", r => { r.Descriptor(0, ulong.MaxValue - 3, 16, None, 0); r.MakeAvailable(0); }, "outside guest memory"),
        ("readable after writable", r => { r.Descriptor(0, Buf, 1, Write | Next, 1); r.Descriptor(1, Buf, 16, None, 0); r.MakeAvailable(0); }, "readable descriptor after"),
        ("avail idx jumps past the queue size", r => r.SetAvailIdx(Qs + 1), "more than the queue size"),
        ("head made available twice", r => { r.Descriptor(0, Buf, 16, None, 0); r.MakeAvailable(0); r.MakeAvailable(0); }, "still owns it"),
        ("indirect and next", r => { r.Descriptor(0, Indirect, 32, VirtqDescriptorFlags.Indirect | Next, 1); r.MakeAvailable(0); }, "both INDIRECT and NEXT"),
        ("indirect length not a multiple of 16", r => { r.Descriptor(0, Indirect, 24, VirtqDescriptorFlags.Indirect, 0); r.MakeAvailable(0); }, "multiple of 16"),
        ("indirect length zero", r => { r.Descriptor(0, Indirect, 0, VirtqDescriptorFlags.Indirect, 0); r.MakeAvailable(0); }, "multiple of 16"),
        ("indirect table larger than the queue", r => { r.Descriptor(0, Indirect, 16 * (Qs + 1), VirtqDescriptorFlags.Indirect, 0); r.MakeAvailable(0); }, "exceeds the queue size"),
        ("indirect table outside memory", r => { r.Descriptor(0, 0xFFF0, 32, VirtqDescriptorFlags.Indirect, 0); r.MakeAvailable(0); }, "outside guest memory"),
        ("nested indirect", r =>
        {
            r.Descriptor(0, Indirect, 32, VirtqDescriptorFlags.Indirect, 0);
            r.Descriptor(0, Indirect + 0x100, 16, VirtqDescriptorFlags.Indirect, 0, table: Indirect);
            r.MakeAvailable(0);
        }, "inside an indirect table"),
        ("indirect next out of range", r =>
        {
            r.Descriptor(0, Indirect, 32, VirtqDescriptorFlags.Indirect, 0);
            r.Descriptor(0, Buf, 16, Next, 2, table: Indirect); // the table has 2 entries
            r.MakeAvailable(0);
        }, "out of range"),
        ("indirect loop", r =>
        {
            r.Descriptor(0, Indirect, 32, VirtqDescriptorFlags.Indirect, 0);
            r.Descriptor(0, Buf, 16, Next, 1, table: Indirect);
            r.Descriptor(1, Buf, 16, Next, 0, table: Indirect);
            r.MakeAvailable(0);
        }, "loop or too long"),
    ];

    static IEnumerable<TestCaseData> CaseData() => Cases.Select(c => new TestCaseData(c.Name).SetName($"Malformed_{c.Name.Replace(' ', '_')}"));

    [TestCaseSource(nameof(CaseData))]
    public void MalformedChain_BreaksTheQueue_WithoutThrowingOrWriting(string name)
    {
        var (_, build, reason) = Cases.Single(c => c.Name == name);
        var memory = new HostMemory(0x10000);
        var ring = new RawRing(memory, new VirtqueueAddresses(Desc, Avail, Used, Qs));
        build(ring);
        var device = new VirtqueueDevice(memory, ring.Addresses, Features);
        byte[] before = Snapshot(memory);

        bool popped = true;
        Assert.DoesNotThrow(() =>
        {
            // "Twice" needs one good pop first; every other case fails on the first.
            while (device.TryPop(out _)) { }
            popped = device.TryPop(out _);
        });
        Assert.Multiple(() =>
        {
            Assert.That(popped, Is.False);
            Assert.That(device.IsBroken, Is.True);
            Assert.That(device.BrokenReason, Does.Contain(reason));
            Assert.That(Snapshot(memory), Is.EqualTo(before), "a broken queue writes nothing");
        });
    }

    [Test]
    public void Indirect_WithoutTheFeature_BreaksTheQueue()
    {
        var memory = new HostMemory(0x10000);
        var ring = new RawRing(memory, new VirtqueueAddresses(Desc, Avail, Used, Qs));
        ring.Descriptor(0, Indirect, 16, VirtqDescriptorFlags.Indirect, 0);
        ring.Descriptor(0, Buf, 16, None, 0, table: Indirect);
        ring.MakeAvailable(0);
        var device = new VirtqueueDevice(memory, ring.Addresses, VirtioFeatures.Version1 | VirtioFeatures.EventIdx);
        Assert.That(device.TryPop(out _), Is.False);
        Assert.That(device.BrokenReason, Does.Contain("VIRTIO_F_INDIRECT_DESC"));
    }

    [Test]
    public void ChainLongerThanTheDeviceLimit_BreaksTheQueue()
    {
        var memory = new HostMemory(0x10000);
        var ring = new RawRing(memory, new VirtqueueAddresses(Desc, Avail, Used, Qs));
        for (int i = 0; i < 4; i++) ring.Descriptor(i, Buf, 16, i < 3 ? Next : None, (ushort)(i + 1));
        ring.MakeAvailable(0);
        var device = new VirtqueueDevice(memory, ring.Addresses, Features, maxChainLength: 3);
        Assert.That(device.TryPop(out _), Is.False);
        Assert.That(device.IsBroken, Is.True);
    }

    [Test]
    public void WellFormedIndirectChain_AfterADirectDescriptor_IsAccepted()
    {
        // §2.7.5.3.2: direct descriptors followed by one indirect one are valid; the indirect's WRITE flag is ignored.
        var memory = new HostMemory(0x10000);
        var ring = new RawRing(memory, new VirtqueueAddresses(Desc, Avail, Used, Qs));
        ring.Descriptor(0, Buf, 16, Next, 5);
        ring.Descriptor(5, Indirect, 48, VirtqDescriptorFlags.Indirect | Write, 0);
        ring.Descriptor(0, Buf + 0x100, 100, Next, 2, table: Indirect);
        ring.Descriptor(2, Buf + 0x200, 200, Write | Next, 1, table: Indirect);
        ring.Descriptor(1, Buf + 0x300, 1, Write, 0, table: Indirect);
        ring.MakeAvailable(0);
        var device = new VirtqueueDevice(memory, ring.Addresses, Features);
        Assert.That(device.TryPop(out var chain), Is.True);
        Assert.That(chain.Segments.ToArray(), Is.EqualTo(new VirtqSegment[]
        {
            new(Buf, 16, false), new(Buf + 0x100, 100, false), new(Buf + 0x200, 200, true), new(Buf + 0x300, 1, true),
        }));
        Assert.That(device.IsBroken, Is.False);
    }

    [TestCase(0x1000UL, 0x2000UL, 0x3000UL, 6, "power of two")]
    [TestCase(0x1004UL, 0x2000UL, 0x3000UL, 8, "16-byte")]
    [TestCase(0x1000UL, 0x2000UL, 0xFFFCUL, 8, "outside guest memory")]
    public void BadQueueAddresses_BreakTheQueueAtSetUp(ulong desc, ulong avail, ulong used, int qs, string reason)
    {
        var memory = new HostMemory(0x10000);
        byte[] before = Snapshot(memory);
        VirtqueueDevice? device = null;
        Assert.DoesNotThrow(() => device = new VirtqueueDevice(memory, new VirtqueueAddresses(desc, avail, used, qs), Features));
        Assert.That(device!.IsBroken, Is.True);
        Assert.That(device.BrokenReason, Does.Contain(reason));
        Assert.That(device.TryPop(out _), Is.False);
        Assert.That(Snapshot(memory), Is.EqualTo(before));
    }

    [Test]
    public void BrokenQueue_IgnoresLaterPushes_AndStaysBroken()
    {
        var memory = new HostMemory(0x10000);
        var ring = new RawRing(memory, new VirtqueueAddresses(Desc, Avail, Used, Qs));
        ring.Descriptor(0, Buf, 16, None, 0);
        ring.MakeAvailable(0);
        ring.MakeAvailable(Qs + 3);
        var device = new VirtqueueDevice(memory, ring.Addresses, Features);
        Assert.That(device.TryPop(out var good), Is.True);
        Assert.That(device.TryPop(out _), Is.False);
        Assert.That(device.IsBroken, Is.True);
        byte[] before = Snapshot(memory);
        device.Push(good.Head, 16);
        Assert.That(Snapshot(memory), Is.EqualTo(before));
        Assert.That(device.TakeInterrupt(), Is.False);
    }
}
