using PcieVirt.Fabric;

namespace PcieVirt.Tests.Fabric.Sriov;

[TestFixture]
public class VirtualClockTests
{
    [Test]
    public void NewClock_StartsAtZero_AndMovesOnlyWhenAdvanced()
    {
        var c = new VirtualClock();
        Assert.That(c.Now, Is.Zero);
        c.Advance(100 * VirtualClock.Millisecond);
        c.Advance(5);
        Assert.That(c.Now, Is.EqualTo(100_000_005UL));
    }

    [Test]
    public void Advance_ThatWouldOverflow_Throws_AndKeepsTheTime()
    {
        var c = new VirtualClock();
        c.Advance(ulong.MaxValue - 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Advance(11));
        Assert.That(c.Now, Is.EqualTo(ulong.MaxValue - 10));
    }

    [Test]
    public void AdvanceTo_NeverGoesBack()
    {
        var c = new VirtualClock();
        c.AdvanceTo(500);
        c.AdvanceTo(200);
        Assert.That(c.Now, Is.EqualTo(500UL));
    }

    [Test]
    public void EachRootComplex_HasItsOwnClock_UnlessGivenOne()
    {
        var a = FabricTestKit.NewRootComplex();
        var b = FabricTestKit.NewRootComplex();
        a.Clock.Advance(1);
        Assert.That(b.Clock.Now, Is.Zero);
        var shared = new VirtualClock();
        var c = new RootComplex(FabricTestKit.Options(), null, shared);
        shared.Advance(7);
        Assert.That(c.Clock.Now, Is.EqualTo(7UL));
    }

    [TestCase("100ms", 100_000_000UL)]
    [TestCase("1s", 1_000_000_000UL)]
    [TestCase("250us", 250_000UL)]
    [TestCase("500ns", 500UL)]
    [TestCase("42", 42UL)]
    [TestCase(" 2 ms ", 2_000_000UL)]
    public void TryParseDuration_Units(string text, ulong expected)
    {
        Assert.That(VirtualClock.TryParseDuration(text, out var ns), Is.True);
        Assert.That(ns, Is.EqualTo(expected));
    }

    [TestCase("")]
    [TestCase("ms")]
    [TestCase("-1ms")]
    [TestCase("1.5ms")]
    [TestCase("10 minutes")]
    [TestCase("99999999999999999999s")]
    [TestCase("18446744073710s")]
    public void TryParseDuration_RejectsMalformed(string text) =>
        Assert.That(VirtualClock.TryParseDuration(text, out _), Is.False);

    [TestCase(0UL, "0 ns")]
    [TestCase(100_000_000UL, "100 ms")]
    [TestCase(2_000_000_000UL, "2 s")]
    [TestCase(1500UL, "1500 ns")]
    [TestCase(3000UL, "3 us")]
    public void Format_IsExact(ulong ns, string text) => Assert.That(VirtualClock.Format(ns), Is.EqualTo(text));
}
