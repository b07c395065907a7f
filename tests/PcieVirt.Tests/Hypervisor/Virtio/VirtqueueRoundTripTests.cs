using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Virtio;
using static PcieVirt.Tests.Hypervisor.Virtio.VirtioTestKit;

namespace PcieVirt.Tests.Hypervisor.Virtio;

/// <summary>Chains from the guest driver through the device and back; notification suppression both ways.</summary>
[TestFixture]
public class VirtqueueRoundTripTests
{
    static (HostMemory Memory, VirtqueueDriver Driver, VirtqueueDevice Device) Pair(int qs, bool eventIdx = true)
    {
        var (memory, allocator) = Guest();
        var driver = new VirtqueueDriver(allocator, qs, eventIdx);
        ulong features = VirtioFeatures.Version1 | (eventIdx ? VirtioFeatures.EventIdx : 0);
        var device = new VirtqueueDevice(memory, driver.Addresses, features);
        return (memory, driver, device);
    }

    [Test]
    public void SeveralChains_ArriveWithTheirSegments_AndComeBackWithTheirLengths()
    {
        var (_, driver, device) = Pair(16);
        VirtqBuffer[][] readable = [[new(0x80000, 16)], [new(0x81000, 16), new(0x82000, 4096)], [], [new(0x83000, 1)]];
        VirtqBuffer[][] writable = [[new(0x90000, 512), new(0x91000, 1)], [new(0x92000, 1)], [new(0x93000, 64)], []];
        var heads = new ushort[4];
        for (int i = 0; i < 4; i++) Assert.That(driver.TryAddChain(readable[i], writable[i], out heads[i]), Is.True);
        Assert.That(driver.FreeCount, Is.EqualTo(16 - 8));
        Assert.That(device.TryPop(out _), Is.False, "nothing is visible before Publish");
        driver.Publish();

        for (int i = 0; i < 4; i++)
        {
            Assert.That(device.TryPop(out VirtqueueChain chain), Is.True);
            Assert.That(chain.Head, Is.EqualTo(heads[i]));
            var expected = readable[i].Select(b => new VirtqSegment(b.Gpa, b.Length, false))
                .Concat(writable[i].Select(b => new VirtqSegment(b.Gpa, b.Length, true))).ToArray();
            Assert.That(chain.Segments.ToArray(), Is.EqualTo(expected));
            Assert.That(chain.ReadableBytes, Is.EqualTo((ulong)readable[i].Sum(b => b.Length)));
            Assert.That(chain.WritableBytes, Is.EqualTo((ulong)writable[i].Sum(b => b.Length)));
        }
        Assert.That(device.TryPop(out _), Is.False);
        Assert.That(device.InFlight, Is.EqualTo(4));

        // Complete out of order: the used ring carries heads, not positions.
        int[] order = [2, 0, 3, 1];
        foreach (int i in order) device.Push(heads[i], (uint)(100 + i));
        foreach (int i in order)
        {
            Assert.That(driver.TryGetUsed(out ushort head, out uint len), Is.True);
            Assert.That((head, len), Is.EqualTo((heads[i], (uint)(100 + i))));
        }
        Assert.That(driver.TryGetUsed(out _, out _), Is.False);
        Assert.That(driver.FreeCount, Is.EqualTo(16), "every descriptor is back on the free list");
        Assert.That(device.IsBroken, Is.False);
    }

    [Test]
    public void FullQueue_RefusesAnotherChain_UntilOneIsUsed()
    {
        var (_, driver, device) = Pair(4);
        Assert.That(driver.TryAddChain([new(0x80000, 8), new(0x80100, 8)], [new(0x80200, 8)], out _), Is.True);
        Assert.That(driver.TryAddChain([new(0x80000, 8)], [], out ushort h2), Is.True);
        Assert.That(driver.TryAddChain([new(0x80000, 8)], [], out _), Is.False);
        driver.Publish();
        Assert.That(device.TryPop(out var a), Is.True);
        Assert.That(device.TryPop(out _), Is.True);
        device.Push(h2, 0);
        Assert.That(driver.TryGetUsed(out _, out _), Is.True);
        Assert.That(driver.TryAddChain([new(0x80000, 8)], [], out _), Is.True);
        device.Push(a.Head, 8);
        Assert.That(driver.TryGetUsed(out ushort h, out _), Is.True);
        Assert.That(h, Is.EqualTo(a.Head));
    }

    [Test]
    public void Indices_WrapAt65536_WithoutLosingOrRepeatingChains()
    {
        var (memory, driver, device) = Pair(8);
        // Run the free-running indices up to 65530 with single round trips.
        for (int i = 0; i < 65530; i++)
        {
            driver.TryAddChain([new(0x80000, 4)], [new(0x81000, 4)], out _);
            driver.Publish();
            while (device.TryPop(out var c)) device.Push(c.Head, 4);
            driver.TryGetUsed(out _, out _);
        }
        Assert.That(ReadU16(memory, driver.Addresses.AvailableRing + 2), Is.EqualTo(65530));

        // Batches of 5 across the wrap: each batch needs exactly one kick, arrives intact, and completes.
        int kicks = 0;
        for (int batch = 0; batch < 4; batch++)
        {
            var heads = new ushort[5];
            for (int i = 0; i < 5; i++)
                Assert.That(driver.TryAddChain([new(0x80000 + (ulong)(i * 64), (uint)(batch * 10 + i + 1))], [], out heads[i]), Is.True);
            driver.Publish();
            if (driver.NeedsKick) kicks++;
            for (int i = 0; i < 5; i++)
            {
                Assert.That(device.TryPop(out var chain), Is.True);
                Assert.That(chain.Head, Is.EqualTo(heads[i]));
                Assert.That(chain.Segments[0].Length, Is.EqualTo((uint)(batch * 10 + i + 1)));
            }
            Assert.That(device.TryPop(out _), Is.False, "drained; avail_event now asks for the next entry");
            for (int i = 0; i < 5; i++) device.Push(heads[i], (uint)i);
            for (int i = 0; i < 5; i++)
            {
                Assert.That(driver.TryGetUsed(out ushort h, out uint len), Is.True);
                Assert.That((h, len), Is.EqualTo((heads[i], (uint)i)));
            }
        }
        Assert.That(kicks, Is.EqualTo(4));
        // 65530 + 20 = 65550 ≡ 14 (mod 65536).
        Assert.That(ReadU16(memory, driver.Addresses.AvailableRing + 2), Is.EqualTo(14));
        Assert.That(ReadU16(memory, driver.Addresses.UsedRing + 2), Is.EqualTo(14));
        Assert.That(device.IsBroken, Is.False);
    }

    [Test]
    public void EventIdx_RequestsPublishedOneByOne_WhileTheDeviceIsIdle_NeedOneKick()
    {
        var (_, driver, device) = Pair(16);
        int kicks = 0;
        for (int i = 0; i < 8; i++)
        {
            driver.TryAddChain([new(0x80000, 16)], [new(0x81000, 1)], out _);
            driver.Publish();
            if (driver.NeedsKick) kicks++;
        }
        // avail_event is 0 (the device has not run), and only the first publish covers index 0.
        Assert.That(kicks, Is.EqualTo(1));

        // The device drains the ring and asks to hear about index 8: the next batch needs one kick again.
        while (device.TryPop(out var c)) device.Push(c.Head, 1);
        while (driver.TryGetUsed(out _, out _)) { }
        kicks = 0;
        for (int i = 0; i < 3; i++)
        {
            driver.TryAddChain([new(0x80000, 16)], [], out _);
            driver.Publish();
            if (driver.NeedsKick) kicks++;
        }
        Assert.That(kicks, Is.EqualTo(1));
    }

    [Test]
    public void EventIdx_WhileTheDeviceIsStillProcessing_NoKick()
    {
        var (_, driver, device) = Pair(16);
        for (int i = 0; i < 4; i++) driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        Assert.That(driver.NeedsKick, Is.True);
        // The device has taken two and is busy; it has not drained, so avail_event still says 0.
        device.TryPop(out _);
        device.TryPop(out _);
        driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        Assert.That(driver.NeedsKick, Is.False);
        // It keeps going and finds the new entry without a kick.
        int seen = 0;
        while (device.TryPop(out _)) seen++;
        Assert.That(seen, Is.EqualTo(3));
    }

    [Test]
    public void EventIdx_AvailEventAhead_SuppressesTheKick()
    {
        var (memory, driver, _) = Pair(16);
        // A polling device asks to be told only about entry 10 (§2.7.10.2).
        WriteU16(memory, driver.Addresses.UsedRing + (ulong)SplitVirtqueueLayout.AvailEventOffset(16), 10);
        for (int i = 0; i < 3; i++) driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        Assert.That(driver.NeedsKick, Is.False, "entries 0..2 do not reach 10");
        for (int i = 0; i < 8; i++) driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        Assert.That(driver.NeedsKick, Is.True, "entries 3..10 include 10");
    }

    [Test]
    public void EventIdx_Interrupts_AreSuppressedUntilTheDriverCatchesUp()
    {
        var (_, driver, device) = Pair(16);
        for (int i = 0; i < 5; i++) driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        var heads = new List<ushort>();
        while (device.TryPop(out var c)) heads.Add(c.Head);

        // used_event is 0: the first completion interrupts, the rest (driver not yet caught up) do not.
        device.Push(heads[0], 0);
        Assert.That(device.TakeInterrupt(), Is.True);
        for (int i = 1; i < 5; i++) device.Push(heads[i], 0);
        Assert.That(device.TakeInterrupt(), Is.False);
        Assert.That((device.InterruptsSent, device.InterruptsSuppressed), Is.EqualTo((1L, 4L)));

        // The driver consumes all five, which moves used_event to 5: the next completion interrupts again.
        int got = 0;
        while (driver.TryGetUsed(out _, out _)) got++;
        Assert.That(got, Is.EqualTo(5));
        driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        device.TryPop(out var next);
        device.Push(next.Head, 0);
        Assert.That(device.TakeInterrupt(), Is.True);
    }

    [Test]
    public void FlagMode_KicksEveryPublish_WhileIdle_AndNoneWhileTheDeviceIsBusy()
    {
        var (_, driver, device) = Pair(16, eventIdx: false);
        int kicks = 0;
        for (int i = 0; i < 3; i++)
        {
            driver.TryAddChain([new(0x80000, 16)], [], out _);
            driver.Publish();
            if (driver.NeedsKick) kicks++;
        }
        Assert.That(kicks, Is.EqualTo(3), "without event idx and with used.flags = 0, every publish notifies");
        device.TryPop(out _); // busy: sets VIRTQ_USED_F_NO_NOTIFY
        driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        Assert.That(driver.NeedsKick, Is.False);
        while (device.TryPop(out _)) { } // drains: clears the flag again
        driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        Assert.That(driver.NeedsKick, Is.True);
    }

    [Test]
    public void FlagMode_NoInterruptFlag_SuppressesInterrupts()
    {
        var (_, driver, device) = Pair(8, eventIdx: false);
        driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        device.TryPop(out var a);
        device.TryPop(out var b);
        device.Push(a.Head, 0);
        Assert.That(device.TakeInterrupt(), Is.True);
        driver.SetNoInterrupt(true);
        device.Push(b.Head, 0);
        Assert.That(device.TakeInterrupt(), Is.False);
        Assert.That(device.InterruptsSuppressed, Is.EqualTo(1));
    }

    [Test]
    public void Driver_RejectsAUsedEntryNamingNoOutstandingChain()
    {
        var (memory, driver, _) = Pair(8);
        driver.TryAddChain([new(0x80000, 16)], [], out _);
        driver.Publish();
        // A buggy device reports head 5, which the driver never made available.
        var elem = new byte[8];
        elem[0] = 5;
        memory.Write(driver.Addresses.UsedRing + 4, elem);
        WriteU16(memory, driver.Addresses.UsedRing + 2, 1);
        Assert.That(driver.TryGetUsed(out _, out _), Is.False);
        Assert.That(driver.IsBroken, Is.True);
        Assert.That(driver.FreeCount, Is.EqualTo(7), "the free list was not touched");
    }
}
