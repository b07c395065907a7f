using PcieVirt.Fabric.MultiRoot;

namespace PcieVirt.Tests.Fabric.MultiRoot;

public class VirtualLinkTests
{
    // 1 byte per ns keeps the arithmetic readable: a TLP with P bytes of payload takes P + overhead ns.
    const int Overhead = 28;
    const ulong Return = 200;

    static MrVirtualLinks Links(FcCredits credits, int vls = 4) => new("test-link", new VirtualLinkOptions
    {
        VlCount = vls, LinkBytesPerNs = 1, MaxPayloadSize = 256, Credits = credits, CreditReturnNs = Return,
        PostedOverhead = Overhead, NonPostedOverhead = Overhead, CompletionOverhead = 24,
    });

    [Test]
    public void Credit_units_are_one_header_per_tlp_and_one_data_credit_per_16_bytes()
    {
        // §2.6.1: data credits count 4 DW (16 B) units, rounded up.
        Assert.That(FcCredits.DataCredits(0), Is.EqualTo(0));
        Assert.That(FcCredits.DataCredits(1), Is.EqualTo(1));
        Assert.That(FcCredits.DataCredits(16), Is.EqualTo(1));
        Assert.That(FcCredits.DataCredits(17), Is.EqualTo(2));
        Assert.That(FcCredits.DataCredits(256), Is.EqualTo(16));
        var links = Links(new FcCredits(4, 64, 2, 2, 0, 0));
        links.Upstream.Send(1, FcType.Posted, 100, 0);
        Assert.That(links.Upstream.Available(1, FcType.Posted), Is.EqualTo((3, 64 - 7)));
        Assert.That(links.Upstream.Available(1, FcType.Completion), Is.EqualTo((-1, -1)), "0 advertised = infinite");
        Assert.That(links.Upstream.Available(2, FcType.Posted), Is.EqualTo((4, 64)), "credits are per VL");
    }

    [Test]
    public void A_vl_without_credits_stalls_until_the_update_returns_them()
    {
        // One posted header and 16 data credits (256 B): the second TLP waits for the first one's UpdateFC.
        var links = Links(new FcCredits(1, 16, 0, 0, 0, 0));
        var up = links.Upstream;
        ulong first = up.Send(1, FcType.Posted, 256, 0);
        Assert.That(first, Is.EqualTo(256UL + Overhead));
        Assert.That(up.Available(1, FcType.Posted), Is.EqualTo((0, 0)));
        ulong second = up.Send(1, FcType.Posted, 256, 0);
        Assert.That(second, Is.EqualTo(first + Return + 256 + Overhead));
        Assert.That(up.Counters(1).CreditStalls, Is.EqualTo(1));
        Assert.That(up.Counters(1).CreditStallNs, Is.EqualTo(Return), "held beyond its turn (after the first TLP) by the UpdateFC delay");
        // Another VL has its own credits and is not held up by VL 1's.
        Assert.That(up.Send(2, FcType.Posted, 256, 0), Is.LessThan(second));
        Assert.That(up.Counters(2).CreditStalls, Is.Zero);
        // Once the returns are due, a TLP goes at once.
        ulong later = second + Return + 1;
        Assert.That(up.Send(1, FcType.Posted, 256, later), Is.EqualTo(later + 256 + Overhead));
        Assert.That(up.Counters(1).CreditStalls, Is.EqualTo(1));
    }

    [Test]
    public void Too_few_credits_throttle_a_vl_even_on_an_idle_link()
    {
        // One posted header credit: every TLP waits for the previous one's UpdateFC (TLP time + return delay).
        var up = Links(new FcCredits(1, 0, 0, 0, 0, 0)).Upstream;
        ulong end = 0;
        for (int i = 0; i < 50; i++) end = up.Send(1, FcType.Posted, 256, 0);
        Assert.That(end, Is.EqualTo(50UL * (256 + Overhead) + 49 * Return));
        Assert.That(up.Counters(1).CreditStalls, Is.EqualTo(49));
        Assert.That(up.Counters(1).Posted, Is.EqualTo(50));
        Assert.That(up.Counters(1).PayloadBytes, Is.EqualTo(50 * 256));
    }

    [Test]
    public void Infinite_credits_never_stall()
    {
        var up = Links(FcCredits.Infinite).Upstream;
        ulong end = 0;
        for (int i = 0; i < 100; i++) end = up.Send(0, FcType.Posted, 256, 0);
        Assert.That(end, Is.EqualTo(100UL * (256 + Overhead)));
        Assert.That(up.Counters(0).CreditStalls, Is.Zero);
    }

    [Test]
    public void A_tlp_larger_than_the_advertised_data_credits_is_refused()
    {
        var up = Links(new FcCredits(8, 8, 0, 0, 0, 0)).Upstream; // 128 B of posted data
        Assert.Throws<InvalidOperationException>(() => up.Send(0, FcType.Posted, 256, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => up.Send(0, FcType.Posted, 512, 0), "beyond MPS");
        Assert.Throws<ArgumentOutOfRangeException>(() => up.Send(4, FcType.Posted, 16, 0), "no VL 4");
        Assert.Throws<ArgumentOutOfRangeException>(() => Links(new FcCredits(200, 0, 0, 0, 0, 0)));
    }

    [Test]
    public void Weighted_round_robin_gives_backlogged_vls_their_weights_share()
    {
        var links = Links(FcCredits.Infinite);
        links.SetWeight(1, 3);
        links.SetWeight(2, 1);
        var up = links.Upstream;
        // Both VLs keep a TLP train waiting: booked alternately, all at time 0.
        var ends1 = new ulong[600];
        var ends2 = new ulong[600];
        for (int i = 0; i < 600; i++)
        {
            ends1[i] = up.Send(1, FcType.Posted, 256, 0);
            ends2[i] = up.Send(2, FcType.Posted, 256, 0);
        }
        // While VL 1 was busy, VL 2 got a quarter of the link: a third of VL 1's TLPs.
        ulong horizon = ends1[^1];
        int done2 = ends2.Count(e => e <= horizon);
        Assert.That(done2, Is.InRange(600 / 3 - 3, 600 / 3 + 3));
        // And the link carried no more than its rate: 1 byte per ns.
        double carried = (600 + done2) * (256.0 + Overhead);
        Assert.That(carried / horizon, Is.InRange(0.99, 1.01));
    }

    [Test]
    public void An_idle_vls_share_goes_to_the_busy_one()
    {
        var links = Links(FcCredits.Infinite);
        links.SetWeight(1, 1);
        links.SetWeight(2, 7);
        var up = links.Upstream;
        ulong end = 0;
        for (int i = 0; i < 100; i++) end = up.Send(1, FcType.Posted, 256, 0);
        Assert.That(end, Is.EqualTo(100UL * (256 + Overhead)), "weight 1 of 8, but alone: the whole link");
        // VL 2 becomes busy only after VL 1's backlog has left: full rate for it too.
        Assert.That(up.Send(2, FcType.Posted, 256, end), Is.EqualTo(end + 256 + Overhead));
    }

    [Test]
    public void Strict_priority_holds_lower_vls_back_while_a_higher_one_is_backlogged()
    {
        var links = Links(FcCredits.Infinite);
        links.SetPolicy(VlArbitrationPolicy.StrictPriority);
        var up = links.Upstream;
        ulong high = 0;
        for (int i = 0; i < 10; i++) high = up.Send(1, FcType.Posted, 256, 0);
        // VL 1 is backlogged until `high`: VL 2 gets only the residual share; VL 0 (higher than both) the whole link.
        ulong low = up.Send(2, FcType.Posted, 256, 0);
        Assert.That(low, Is.EqualTo((ulong)Math.Round((256 + Overhead) / VlArbitrationPolicy_Residual)));
        Assert.That(up.Send(0, FcType.Posted, 256, 0), Is.EqualTo(256UL + Overhead));
        // After VL 1's backlog, VL 3 has the link to itself.
        Assert.That(up.Send(3, FcType.Posted, 256, low), Is.EqualTo(low + 256 + Overhead));
    }

    const double VlArbitrationPolicy_Residual = VlArbiter.StrictResidualShare;

    [Test]
    public void The_arbiter_shares_by_the_weights_of_the_backlogged_vls_only()
    {
        var a = new VlArbiter(4);
        a.SetWeight(1, 3);
        a.SetWeight(2, 1);
        a.SetWeight(3, 4);
        ulong[] backlog = [0, 500, 500, 0]; // VLs 1 and 2 busy until 500 ns, 0 and 3 idle
        Assert.That(a.ShareOf(1, 100, backlog), Is.EqualTo(0.75));
        Assert.That(a.ShareOf(2, 100, backlog), Is.EqualTo(0.25));
        Assert.That(a.ShareOf(3, 100, backlog), Is.EqualTo(0.5), "4 of 3 + 1 + 4");
        Assert.That(a.ShareOf(2, 500, backlog), Is.EqualTo(1.0), "at 500 ns VL 1's backlog has left");
        a.Policy = VlArbitrationPolicy.StrictPriority;
        Assert.That(a.ShareOf(1, 100, backlog), Is.EqualTo(1.0));
        Assert.That(a.ShareOf(2, 100, backlog), Is.EqualTo(VlArbiter.StrictResidualShare));
        Assert.That(a.ShareOf(0, 100, backlog), Is.EqualTo(1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VlArbiter(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.SetWeight(4, 1));
    }

    [Test]
    public void Vh_tags_and_traffic_classes_map_to_vls()
    {
        var links = Links(FcCredits.Infinite);
        Assert.That(links.VlOf(0), Is.EqualTo(0), "management VH on VL 0");
        Assert.That(links.VlOf(2, 5), Is.EqualTo(2));
        Assert.That(links.VlOf(6), Is.EqualTo(2), "tags wrap over the VLs by default");
        links.Map(2, 7, 3);
        Assert.That((links.VlOf(2, 7), links.VlOf(2, 0)), Is.EqualTo((3, 2)));
        links.Map(1, null, 0);
        Assert.That(Enumerable.Range(0, 8).Select(tc => links.VlOf(1, tc)), Is.All.EqualTo(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => links.Map(1, 8, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => links.Map(1, 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => links.SetWeight(1, 0));
    }

    [Test]
    public void Bookings_are_deterministic_and_allocate_nothing()
    {
        ulong[] Run()
        {
            var links = Links(FcCredits.SwitchPortDefault);
            links.SetWeight(1, 3);
            var ends = new ulong[3000];
            for (int i = 0; i < ends.Length; i++)
                ends[i] = links.Upstream.Send(1 + i % 2, (i % 5) == 0 ? FcType.NonPosted : FcType.Posted, (i % 5) == 0 ? 0 : 16 * (1 + i % 16), (ulong)i * 37);
            return ends;
        }
        var first = Run();
        Assert.That(Run(), Is.EqualTo(first));
        var links = Links(FcCredits.SwitchPortDefault);
        links.Upstream.Send(1, FcType.Posted, 256, 0); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) links.Upstream.SendBurst(1 + i % 2, FcType.Posted, 4096, 256, (ulong)i * 100, out _);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
