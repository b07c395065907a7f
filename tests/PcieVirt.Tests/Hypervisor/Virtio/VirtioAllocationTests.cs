using PcieVirt.Hypervisor.Virtio;
using PcieVirt.Tests.Support;
using static PcieVirt.Tests.Hypervisor.Virtio.VirtioTestKit;

namespace PcieVirt.Tests.Hypervisor.Virtio;

/// <summary>The per-request paths allocate nothing in steady state.</summary>
[TestFixture]
public class VirtioAllocationTests
{
    [Test]
    public void RawQueue_AddPublishPopPushGetUsed_AllocatesNothing()
    {
        var (memory, allocator) = Guest();
        var driver = new VirtqueueDriver(allocator, 64);
        var device = new VirtqueueDevice(memory, driver.Addresses, VirtioFeatures.Version1 | VirtioFeatures.EventIdx);
        ulong buf = allocator.Allocate(8192);
        int completed = 0;
        long allocated = Allocations.SteadyState(() =>
        {
            Span<VirtqBuffer> r = stackalloc VirtqBuffer[2];
            Span<VirtqBuffer> w = stackalloc VirtqBuffer[1];
            for (int i = 0; i < 1000; i++)
            {
                r[0] = new VirtqBuffer(buf, 16);
                r[1] = new VirtqBuffer(buf + 512, 4096);
                w[0] = new VirtqBuffer(buf + 4608, 1);
                driver.TryAddChain(r, w, out _);
                driver.Publish();
                while (device.TryPop(out VirtqueueChain c)) device.Push(c.Head, 1);
                device.TakeInterrupt();
                while (driver.TryGetUsed(out _, out _)) completed++;
            }
        });
        Assert.That(completed, Is.GreaterThanOrEqualTo(1000));
        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public void Blk_SubmitKickCompleteRoundTrip_AllocatesNothing()
    {
        var (memory, allocator) = Guest();
        var driver = new VirtioBlkGuestDriver(allocator, 32);
        var disk = new VirtioBlkRamDisk(memory, 128);
        int interrupts = 0;
        Action inject = () => interrupts++;
        var device = new VirtioBlkDevice(memory, driver.Queue.Addresses, driver.Features, 128, "ZERO-ALLOC", disk, inject);
        ulong buf = allocator.Allocate(4096);
        long completed = 0;
        long allocated = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 500; i++)
            {
                for (int k = 0; k < 4; k++)
                    driver.TrySubmit(k % 2 == 0 ? VirtioBlkRequestType.Out : VirtioBlkRequestType.In, (ulong)(k * 8), buf, 4096, i * 4 + k);
                if (driver.PublishBatch()) device.OnKick();
                while (driver.TryComplete(out _, out byte status)) if (status == VirtioBlkStatus.Ok) completed++;
            }
        });
        Assert.That(completed, Is.GreaterThanOrEqualTo(2000));
        Assert.That(allocated, Is.Zero);
        Assert.That(device.Status, Is.EqualTo(VirtioDeviceStatus.None));
    }
}
