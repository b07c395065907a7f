using PcieVirt.Hypervisor.Timing;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Timing;

public class LatencyBreakdownTests
{
    static readonly IoComponent[] All = Enum.GetValues<IoComponent>();

    static ulong SumOfTotals(LatencyBreakdown b) => All.Aggregate(0UL, (s, c) => s + b.TotalNs(c));

    [Test]
    public void UnderCharged_RemainderIsWaiting_RowSumsToLatency()
    {
        var b = new LatencyBreakdown(slots: 2);
        b.Begin(0);
        b.Charge(0, IoComponent.GuestStack, 1_500);
        b.Charge(0, IoComponent.Media, 8_900);
        b.Charge(0, IoComponent.GuestStack, 2_300);
        Assert.That(b.Charged(0, IoComponent.GuestStack), Is.EqualTo(3_800));
        b.Complete(0, 14_000);
        Assert.That(b.TotalNs(IoComponent.GuestStack), Is.EqualTo(3_800));
        Assert.That(b.TotalNs(IoComponent.Media), Is.EqualTo(8_900));
        Assert.That(b.TotalNs(IoComponent.Waiting), Is.EqualTo(14_000 - 3_800 - 8_900));
        Assert.That(SumOfTotals(b), Is.EqualTo(14_000));
        Assert.That(b.TotalLatencyNs, Is.EqualTo(14_000));
        Assert.That(b.Completed, Is.EqualTo(1));
    }

    [Test]
    public void ExactlyCharged_NoWaiting()
    {
        var b = new LatencyBreakdown(1);
        b.Begin(0);
        b.Charge(0, IoComponent.Link, 600);
        b.Charge(0, IoComponent.Media, 400);
        b.Complete(0, 1_000);
        Assert.That(b.TotalNs(IoComponent.Waiting), Is.Zero);
        Assert.That(SumOfTotals(b), Is.EqualTo(1_000));
    }

    [Test]
    public void OverCharged_ScaledDown_RowSumsExactlyToLatency()
    {
        var b = new LatencyBreakdown(1);
        b.Begin(0);
        // 3 x 1,000 charged for 1,000 of latency (overlapping work); 1000/3 does not divide evenly.
        b.Charge(0, IoComponent.Media, 1_000);
        b.Charge(0, IoComponent.Link, 1_000);
        b.Charge(0, IoComponent.Controller, 1_000);
        b.Complete(0, 1_000);
        Assert.That(SumOfTotals(b), Is.EqualTo(1_000));
        foreach (var c in new[] { IoComponent.Media, IoComponent.Link, IoComponent.Controller })
            Assert.That(b.TotalNs(c), Is.InRange(333UL, 334UL), c.ToString());
        Assert.That(b.TotalNs(IoComponent.Waiting), Is.Zero);
    }

    [Test]
    public void OverCharged_KeepsProportions()
    {
        var b = new LatencyBreakdown(1);
        b.Begin(0);
        b.Charge(0, IoComponent.Media, 6_000);
        b.Charge(0, IoComponent.Link, 2_000);
        b.Complete(0, 4_000);
        Assert.That(b.TotalNs(IoComponent.Media), Is.EqualTo(3_000));
        Assert.That(b.TotalNs(IoComponent.Link), Is.EqualTo(1_000));
    }

    [Test]
    public void OverCharged_HugeValues_DoNotOverflow()
    {
        var b = new LatencyBreakdown(1);
        b.Begin(0);
        b.Charge(0, IoComponent.Media, ulong.MaxValue / 2);
        b.Charge(0, IoComponent.Link, ulong.MaxValue / 4);
        b.Complete(0, ulong.MaxValue / 8);
        Assert.That(b.TotalNs(IoComponent.Media) + b.TotalNs(IoComponent.Link), Is.EqualTo(ulong.MaxValue / 8));
    }

    [Test]
    public void ManyIos_MixedCases_TotalsSumToTotalLatency_AndSlotsAreIndependent()
    {
        var b = new LatencyBreakdown(slots: 4);
        var rng = new Random(7);
        ulong total = 0;
        for (int io = 0; io < 200; io++)
        {
            int slot = io % 4;
            b.Begin(slot);
            int n = rng.Next(1, 6);
            for (int k = 0; k < n; k++) b.Charge(slot, All[rng.Next(All.Length)], (ulong)rng.Next(0, 5_000));
            ulong latency = (ulong)rng.Next(1, 15_000); // sometimes below, sometimes above the charges
            b.Complete(slot, latency);
            total += latency;
        }
        Assert.That(b.TotalLatencyNs, Is.EqualTo(total));
        Assert.That(SumOfTotals(b), Is.EqualTo(total));
        Assert.That(All.Sum(c => b.MeanNs(c)), Is.EqualTo((double)total / 200).Within(1e-6));
    }

    [Test]
    public void Begin_ClearsTheSlot_AndOtherSlotsKeepTheirCharges()
    {
        var b = new LatencyBreakdown(2);
        b.Begin(0);
        b.Begin(1);
        b.Charge(0, IoComponent.Media, 100);
        b.Charge(1, IoComponent.Media, 900);
        b.Begin(0);
        Assert.That(b.Charged(0, IoComponent.Media), Is.Zero);
        Assert.That(b.Charged(1, IoComponent.Media), Is.EqualTo(900));
    }

    [Test]
    public void Reset_ForgetsCompletedIos()
    {
        var b = new LatencyBreakdown(1);
        b.Begin(0);
        b.Charge(0, IoComponent.Media, 10);
        b.Complete(0, 20);
        b.Reset();
        Assert.That(b.Completed, Is.Zero);
        Assert.That(b.TotalLatencyNs, Is.Zero);
        Assert.That(SumOfTotals(b), Is.Zero);
        Assert.That(b.MeanNs(IoComponent.Media), Is.Zero);
    }

    [Test]
    public void ChargeAndComplete_AllocateNothing()
    {
        var b = new LatencyBreakdown(4);
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                b.Begin(i & 3);
                b.Charge(i & 3, IoComponent.Media, 700);
                b.Charge(i & 3, IoComponent.Link, 500);
                b.Complete(i & 3, (ulong)(i % 2 == 0 ? 1_000 : 2_000));
            }
        });
        Assert.That(bytes, Is.Zero);
    }
}
