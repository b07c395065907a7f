using System.Buffers.Binary;
using PcieVirt.Devices.Driver;
using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Virtio;
using static PcieVirt.Tests.Hypervisor.Virtio.VirtioTestKit;

namespace PcieVirt.Tests.Hypervisor.Virtio;

/// <summary>virtio-blk requests (VIRTIO 1.x §5.2.6) from the guest driver through the device to a backend and back.</summary>
[TestFixture]
public class VirtioBlkTests
{
    const int CapacitySectors = 64;
    const string Serial = "PCIEVIRT-VBLK-0001";

    sealed class Rig
    {
        public required HostMemory Memory;
        public required HostMemoryAllocator Allocator;
        public required VirtioBlkGuestDriver Driver;
        public required VirtioBlkDevice Device;
        public required VirtioBlkRamDisk Disk;
        public int Interrupts;
    }

    static Rig Build(int queueSize = 16, bool eventIdx = true, IVirtioBlkBackend? backend = null)
    {
        var (memory, allocator) = Guest();
        var driver = new VirtioBlkGuestDriver(allocator, queueSize, eventIdx);
        var disk = new VirtioBlkRamDisk(memory, CapacitySectors);
        Rig? rig = null;
        var device = new VirtioBlkDevice(memory, driver.Queue.Addresses, driver.Features, CapacitySectors, Serial,
            backend ?? disk, () => rig!.Interrupts++);
        rig = new Rig { Memory = memory, Allocator = allocator, Driver = driver, Device = device, Disk = disk };
        return rig;
    }

    static List<(long Token, byte Status)> Drain(VirtioBlkGuestDriver d)
    {
        var done = new List<(long, byte)>();
        while (d.TryComplete(out long t, out byte s)) done.Add((t, s));
        return done;
    }

    [Test]
    public void WriteThenRead_RoundTripsTheData_ThroughTheDisk()
    {
        var rig = Build();
        ulong src = rig.Allocator.Allocate(2048), dst = rig.Allocator.Allocate(2048);
        var pattern = new byte[2048];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (byte)(i * 7 + 3);
        rig.Memory.Write(src, pattern);

        Assert.That(rig.Driver.TrySubmit(VirtioBlkRequestType.Out, 10, src, 2048, token: 1), Is.True);
        Assert.That(rig.Driver.PublishBatch(), Is.True);
        rig.Device.OnKick();
        Assert.That(Drain(rig.Driver), Is.EqualTo(new[] { (1L, VirtioBlkStatus.Ok) }));
        Assert.That(rig.Disk.Contents.Slice(10 * 512, 2048).ToArray(), Is.EqualTo(pattern));

        Assert.That(rig.Driver.TrySubmit(VirtioBlkRequestType.In, 10, dst, 2048, token: 2), Is.True);
        if (rig.Driver.PublishBatch()) rig.Device.OnKick();
        else Assert.Fail("the device drained the ring, so the next request needs a kick");
        Assert.That(Drain(rig.Driver), Is.EqualTo(new[] { (2L, VirtioBlkStatus.Ok) }));
        var back = new byte[2048];
        rig.Memory.Read(dst, back);
        Assert.That(back, Is.EqualTo(pattern));
    }

    [Test]
    public void UsedLength_CountsDataReadPlusTheStatusByte()
    {
        var rig = Build();
        ulong buf = rig.Allocator.Allocate(1024);
        rig.Driver.TrySubmit(VirtioBlkRequestType.In, 0, buf, 1024, 1);
        rig.Driver.TrySubmit(VirtioBlkRequestType.Out, 0, buf, 1024, 2);
        rig.Driver.PublishBatch();
        rig.Device.OnKick();
        Assert.That(rig.Driver.Queue.TryGetUsed(out _, out uint readLen), Is.True);
        Assert.That(rig.Driver.Queue.TryGetUsed(out _, out uint writeLen), Is.True);
        Assert.That((readLen, writeLen), Is.EqualTo((1025u, 1u)));
    }

    [Test]
    public void Flush_GoesToTheBackend_AndCompletesOk()
    {
        var rig = Build();
        rig.Driver.TrySubmit(VirtioBlkRequestType.Flush, 0, 0, 0, 7);
        rig.Driver.PublishBatch();
        rig.Device.OnKick();
        Assert.That(Drain(rig.Driver), Is.EqualTo(new[] { (7L, VirtioBlkStatus.Ok) }));
        Assert.That(rig.Disk.Flushes, Is.EqualTo(1));
    }

    [Test]
    public void GetId_ReturnsTheSerial_NulPaddedTo20Bytes()
    {
        var rig = Build();
        ulong buf = rig.Allocator.Allocate(64);
        rig.Memory.Write(buf, Enumerable.Repeat((byte)0xEE, 64).ToArray());
        rig.Driver.TrySubmit(VirtioBlkRequestType.GetId, 0, buf, 20, 3);
        rig.Driver.PublishBatch();
        rig.Device.OnKick();
        Assert.That(Drain(rig.Driver), Is.EqualTo(new[] { (3L, VirtioBlkStatus.Ok) }));
        var id = new byte[21];
        rig.Memory.Read(buf, id);
        var expected = new byte[21];
        System.Text.Encoding.ASCII.GetBytes(Serial).CopyTo(expected, 0);
        expected[20] = 0xEE; // beyond the 20-byte buffer: untouched
        Assert.That(id, Is.EqualTo(expected));
    }

    [TestCase(63UL, 512, VirtioBlkStatus.Ok)]       // last sector
    [TestCase(63UL, 1024, VirtioBlkStatus.IoErr)]   // runs one sector past the end
    [TestCase(64UL, 512, VirtioBlkStatus.IoErr)]    // starts at capacity
    [TestCase(ulong.MaxValue, 512, VirtioBlkStatus.IoErr)] // sector + count would overflow
    [TestCase(0UL, 100, VirtioBlkStatus.IoErr)]     // not a whole sector
    public void SectorRange_IsCheckedAgainstCapacity(ulong sector, int length, byte status)
    {
        var rig = Build();
        ulong buf = rig.Allocator.Allocate(1024);
        rig.Driver.TrySubmit(VirtioBlkRequestType.In, sector, buf, length, 1);
        rig.Driver.PublishBatch();
        rig.Device.OnKick();
        Assert.That(Drain(rig.Driver), Is.EqualTo(new[] { (1L, status) }));
        Assert.That(rig.Device.Status, Is.EqualTo(VirtioDeviceStatus.None));
    }

    [TestCase(2u)]
    [TestCase(11u)]  // DISCARD: not offered by this device
    [TestCase(0xFFFFFFFFu)]
    public void UnknownType_CompletesUnsupported(uint type)
    {
        var rig = Build();
        rig.Driver.TrySubmit((VirtioBlkRequestType)type, 0, 0, 0, 9);
        rig.Driver.PublishBatch();
        rig.Device.OnKick();
        Assert.That(Drain(rig.Driver), Is.EqualTo(new[] { (9L, VirtioBlkStatus.Unsupported) }));
    }

    [Test]
    public void ABatch_NeedsOneKick_AndTheCountersSeeIt()
    {
        var rig = Build();
        ulong buf = rig.Allocator.Allocate(4096);
        for (int i = 0; i < 5; i++) Assert.That(rig.Driver.TrySubmit(VirtioBlkRequestType.In, (ulong)i, buf, 512, i), Is.True);
        Assert.That(rig.Driver.PublishBatch(), Is.True);
        Assert.That(rig.Driver.KickNeeded, Is.True);
        rig.Device.OnKick();
        var done = Drain(rig.Driver);
        Assert.That(done.Select(d => d.Token), Is.EqualTo(new long[] { 0, 1, 2, 3, 4 }));
        Assert.Multiple(() =>
        {
            Assert.That(rig.Device.Requests, Is.EqualTo(5));
            Assert.That(rig.Device.KicksSeen, Is.EqualTo(1));
            // Synchronous completions: the first interrupts, the driver has not caught up for the other four.
            Assert.That(rig.Device.InterruptsSent, Is.EqualTo(1));
            Assert.That(rig.Device.InterruptsSuppressed, Is.EqualTo(4));
            Assert.That(rig.Interrupts, Is.EqualTo(1));
            Assert.That(rig.Driver.InFlight, Is.Zero);
        });
    }

    sealed class DeferredBackend : IVirtioBlkBackend
    {
        public readonly List<(VirtioBlkDevice Device, VirtioBlkRequest Request)> Pending = [];
        public void Submit(VirtioBlkDevice device, VirtioBlkRequest request) => Pending.Add((device, request));
    }

    [Test]
    public void DeferredCompletions_InterruptAgain_OnceTheDriverHasCaughtUp()
    {
        var backend = new DeferredBackend();
        var rig = Build(backend: backend);
        for (int i = 0; i < 3; i++) rig.Driver.TrySubmit(VirtioBlkRequestType.Flush, 0, 0, 0, i);
        rig.Driver.PublishBatch();
        rig.Device.OnKick();
        Assert.That(backend.Pending, Has.Count.EqualTo(3));
        Assert.That(rig.Driver.TryComplete(out _, out _), Is.False);

        backend.Pending[0].Device.Complete(backend.Pending[0].Request, VirtioBlkStatus.Ok);
        Assert.That(rig.Interrupts, Is.EqualTo(1));
        Assert.That(Drain(rig.Driver), Has.Count.EqualTo(1)); // the interrupt handler runs: used_event moves on
        backend.Pending[1].Device.Complete(backend.Pending[1].Request, VirtioBlkStatus.IoErr);
        Assert.That(rig.Interrupts, Is.EqualTo(2));
        backend.Pending[2].Device.Complete(backend.Pending[2].Request, VirtioBlkStatus.Ok);
        Assert.That(rig.Interrupts, Is.EqualTo(2), "the driver has not consumed entry 1 yet");
        Assert.That(Drain(rig.Driver), Is.EqualTo(new[] { (1L, VirtioBlkStatus.IoErr), (2L, VirtioBlkStatus.Ok) }));
    }

    [Test]
    public void HeaderSplitAcrossDescriptors_IsAccepted()
    {
        // §2.7.4: the device may not assume the framing; here the header is 4 + 12 bytes and the data and status share one descriptor.
        var (memory, allocator) = Guest();
        var vq = new VirtqueueDriver(allocator, 8);
        var disk = new VirtioBlkRamDisk(memory, CapacitySectors);
        disk.Contents.Slice(5 * 512, 512).Fill(0x5A);
        var device = new VirtioBlkDevice(memory, vq.Addresses, VirtioFeatures.Version1 | VirtioFeatures.EventIdx, CapacitySectors, Serial, disk);
        ulong hdr = allocator.Allocate(64), io = allocator.Allocate(1024);
        var header = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)VirtioBlkRequestType.In);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), 5);
        memory.Write(hdr, header.AsSpan(0, 4));
        memory.Write(hdr + 32, header.AsSpan(4));
        memory.Write(io + 512, new byte[] { 0xFF });
        Assert.That(vq.TryAddChain([new(hdr, 4), new(hdr + 32, 12)], [new(io, 513)], out _), Is.True);
        vq.Publish();
        device.OnKick();
        var got = new byte[513];
        memory.Read(io, got);
        Assert.Multiple(() =>
        {
            Assert.That(got[..512], Is.All.EqualTo(0x5A));
            Assert.That(got[512], Is.EqualTo(VirtioBlkStatus.Ok));
            Assert.That(device.Status, Is.EqualTo(VirtioDeviceStatus.None));
        });
    }

    static readonly (string Name, VirtqBuffer[] Readable, VirtqBuffer[] Writable, uint Type, string Reason)[] BadRequests =
    [
        ("header of 12 bytes", [new(0x20000, 12)], [new(0x21000, 1)], 0, "header needs 16"),
        ("header in a writable descriptor", [], [new(0x20000, 16), new(0x21000, 1)], 0, "header needs 16"),
        ("no status byte", [new(0x20000, 16), new(0x22000, 512)], [], 1, "no device-writable byte"),
        ("IN with device-readable data", [new(0x20000, 16), new(0x22000, 512)], [new(0x21000, 1)], 0, "device must write"),
        ("OUT with device-writable data", [new(0x20000, 16)], [new(0x22000, 512), new(0x21000, 1)], 1, "device must read"),
        ("GET_ID with device-readable data", [new(0x20000, 16), new(0x22000, 20)], [new(0x21000, 1)], 8, "device must write"),
    ];

    static IEnumerable<TestCaseData> BadRequestData() => BadRequests.Select(b => new TestCaseData(b.Name).SetName($"BadRequest_{b.Name.Replace(' ', '_')}"));

    [TestCaseSource(nameof(BadRequestData))]
    public void MalformedRequest_SetsDeviceNeedsReset_AndWritesNothing(string name)
    {
        var (_, readable, writable, type, reason) = BadRequests.Single(b => b.Name == name);
        var (memory, allocator) = Guest();
        var vq = new VirtqueueDriver(allocator, 8);
        var disk = new VirtioBlkRamDisk(memory, CapacitySectors);
        var device = new VirtioBlkDevice(memory, vq.Addresses, VirtioFeatures.Version1 | VirtioFeatures.EventIdx, CapacitySectors, Serial, disk);
        var header = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        memory.Write(0x20000, header);
        memory.Write(0x21000, new byte[] { 0xFF });
        Assert.That(vq.TryAddChain(readable, writable, out _), Is.True);
        vq.Publish();
        byte[] before = Snapshot(memory);
        Assert.DoesNotThrow(() => device.OnKick());
        Assert.Multiple(() =>
        {
            Assert.That(device.Status, Is.EqualTo(VirtioDeviceStatus.DeviceNeedsReset));
            Assert.That(device.Queue.BrokenReason, Does.Contain(reason));
            Assert.That(Snapshot(memory), Is.EqualTo(before));
            Assert.That(vq.TryGetUsed(out _, out _), Is.False);
        });
    }

    [Test]
    public void AfterTheQueueBreaks_LateCompletions_WriteNothing()
    {
        var backend = new DeferredBackend();
        var rig = Build(backend: backend);
        rig.Driver.TrySubmit(VirtioBlkRequestType.Flush, 0, 0, 0, 1);
        rig.Driver.PublishBatch();
        rig.Device.OnKick();
        Assert.That(backend.Pending, Has.Count.EqualTo(1));
        // Next, a chain whose header is in a writable descriptor breaks the queue.
        Assert.That(rig.Driver.Queue.TryAddChain([], [new(0x20000, 17)], out _), Is.True);
        rig.Driver.Queue.Publish();
        rig.Device.OnKick();
        Assert.That(rig.Device.Status, Is.EqualTo(VirtioDeviceStatus.DeviceNeedsReset));
        byte[] before = Snapshot(rig.Memory);
        Assert.DoesNotThrow(() => backend.Pending[0].Device.Complete(backend.Pending[0].Request, VirtioBlkStatus.Ok));
        Assert.That(Snapshot(rig.Memory), Is.EqualTo(before));
        Assert.That(rig.Interrupts, Is.Zero);
    }

    [Test]
    public void RamDiskSmallerThanTheAdvertisedCapacity_FailsTheRequest_NotTheHost()
    {
        var (memory, allocator) = Guest();
        var driver = new VirtioBlkGuestDriver(allocator, 8);
        var disk = new VirtioBlkRamDisk(memory, 8);
        var device = new VirtioBlkDevice(memory, driver.Queue.Addresses, driver.Features, 64, Serial, disk);
        ulong buf = allocator.Allocate(1024);
        driver.TrySubmit(VirtioBlkRequestType.Out, 7, buf, 1024, 1); // sectors 7-8: the disk has 0-7
        driver.TrySubmit(VirtioBlkRequestType.In, 7, buf, 512, 2);
        driver.PublishBatch();
        device.OnKick();
        Assert.That(Drain(driver), Is.EqualTo(new[] { (1L, VirtioBlkStatus.IoErr), (2L, VirtioBlkStatus.Ok) }));
    }
}
