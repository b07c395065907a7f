using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Sim;

public class SimEngineTests
{
    /// <summary>Records (time, tag, argument) of each event it receives; optionally schedules follow-ups.</summary>
    sealed class Recorder(SimEngine engine) : ISimEventHandler
    {
        public readonly List<(ulong Time, int Tag, long Argument)> Seen = [];
        public Action<int, long>? Then;
        public void OnEvent(int tag, long argument)
        {
            Seen.Add((engine.Now, tag, argument));
            Then?.Invoke(tag, argument);
        }
    }

    /// <summary>A timed source with a list of due times; records when it ran.</summary>
    sealed class Source(SimEngine engine, params ulong[] due) : ITimedSource
    {
        readonly Queue<ulong> _due = new(due);
        public readonly List<ulong> RanAt = [];
        public Action? OnRun;
        public ulong NextEventNs => _due.Count > 0 ? _due.Peek() : ulong.MaxValue;
        public void RunDue()
        {
            while (_due.Count > 0 && _due.Peek() <= engine.Now) _due.Dequeue();
            RanAt.Add(engine.Now);
            OnRun?.Invoke();
        }
    }

    /// <summary>Counts events without allocating.</summary>
    sealed class Counter : ISimEventHandler
    {
        public long Sum;
        public void OnEvent(int tag, long argument) => Sum += argument;
    }

    [Test]
    public void Events_RunInTimeOrder_ThenInSchedulingOrderForEqualTimes()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        e.Schedule(300, r, 1);
        e.Schedule(100, r, 2);
        e.Schedule(300, r, 3);
        e.Schedule(100, r, 4);
        e.Schedule(200, r, 5);
        e.Schedule(300, r, 6);
        while (e.Step()) { }
        Assert.That(r.Seen.Select(s => s.Tag), Is.EqualTo(new[] { 2, 4, 5, 1, 3, 6 }));
        Assert.That(r.Seen.Select(s => s.Time), Is.EqualTo(new ulong[] { 100, 100, 200, 300, 300, 300 }));
        Assert.That(e.EventsRun, Is.EqualTo(6));
        Assert.That(e.Pending, Is.Zero);
    }

    [Test]
    public void ManyEqualTimes_KeepFifoOrder_AcrossHeapGrowth()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        // More than the initial heap capacity, interleaving two times.
        for (int i = 0; i < 500; i++) e.Schedule(i % 2 == 0 ? 50UL : 40UL, r, i);
        while (e.Step()) { }
        var expected = Enumerable.Range(0, 500).Where(i => i % 2 == 1).Concat(Enumerable.Range(0, 500).Where(i => i % 2 == 0));
        Assert.That(r.Seen.Select(s => s.Tag), Is.EqualTo(expected));
    }

    [Test]
    public void EventScheduledForNow_FromAHandler_RunsAfterThoseAlreadyDue()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        r.Then = (tag, _) => { if (tag == 1) e.Schedule(e.Now, r, 9); };
        e.Schedule(10, r, 1);
        e.Schedule(10, r, 2);
        while (e.Step()) { }
        Assert.That(r.Seen.Select(s => s.Tag), Is.EqualTo(new[] { 1, 2, 9 }));
    }

    [Test]
    public void Schedule_InThePast_IsRejected_AndNothingIsQueued()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        e.Schedule(1_000, r, 1);
        e.Step();
        Assert.That(e.Now, Is.EqualTo(1_000));
        Assert.That(() => e.Schedule(999, r, 2), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("past"));
        Assert.That(e.Pending, Is.Zero);
        e.Schedule(1_000, r, 3); // now is not the past
        Assert.That(e.Pending, Is.EqualTo(1));
    }

    [Test]
    public void After_SchedulesRelativeToNow_AndRejectsOverflow()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        e.Schedule(500, r, 1);
        e.Step();
        e.After(250, r, 2, 42);
        e.Step();
        Assert.That(r.Seen[^1], Is.EqualTo((750UL, 2, 42L)));
        Assert.That(() => e.After(ulong.MaxValue, r, 3), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(e.Pending, Is.Zero);
    }

    [Test]
    public void Schedule_NullHandler_IsRejected()
    {
        var e = new SimEngine();
        Assert.That(() => e.Schedule(1, null!, 0), Throws.ArgumentNullException);
    }

    [Test]
    public void Step_AdvancesTheSharedClock()
    {
        var clock = new VirtualClock();
        var e = new SimEngine(clock);
        e.Schedule(12_345, new Recorder(e), 0);
        Assert.That(e.NextEventNs, Is.EqualTo(12_345));
        e.Step();
        Assert.That(clock.Now, Is.EqualTo(12_345));
        Assert.That(e.Step(), Is.False, "nothing pending");
        Assert.That(e.NextEventNs, Is.EqualTo(ulong.MaxValue));
    }

    [Test]
    public void TimedSource_IsRunAtItsTime_BeforeEventsOfTheSameTime()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        var s = new Source(e, 150, 300);
        var order = new List<string>();
        s.OnRun = () => order.Add("source@" + e.Now);
        r.Then = (tag, _) => order.Add("event" + tag + "@" + e.Now);
        e.AddSource(s);
        e.Schedule(100, r, 1);
        e.Schedule(300, r, 2);
        Assert.That(e.NextEventNs, Is.EqualTo(100));
        while (e.Step()) { }
        Assert.That(order, Is.EqualTo(new[] { "event1@100", "source@150", "source@300", "event2@300" }));
        Assert.That(s.RanAt, Is.EqualTo(new ulong[] { 150, 300 }));
    }

    [Test]
    public void TimedSource_MayScheduleEvents_WhichRunInTheSameStepWhenDueNow()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        var s = new Source(e, 70);
        s.OnRun = () => e.Schedule(e.Now, r, 7);
        e.AddSource(s);
        Assert.That(e.Step(), Is.True);
        Assert.That(r.Seen, Is.EqualTo(new[] { (70UL, 7, 0L) }));
        Assert.That(e.Step(), Is.False);
    }

    /// <summary>A source with work due at 100 that it can only do once unblocked (a full queue drained by an event).</summary>
    sealed class BlockedSource(SimEngine engine) : ITimedSource, ISimEventHandler
    {
        public bool Unblocked, Done;
        public readonly List<ulong> RanAt = [];
        public ulong NextEventNs => Done ? ulong.MaxValue : 100;
        public void RunDue()
        {
            RanAt.Add(engine.Now);
            if (Unblocked) Done = true;
        }
        public void OnEvent(int tag, long argument) => Unblocked = true;
    }

    [Test]
    public void BlockedSource_DoesNotStopTime_AndIsRetriedAfterTheNextEvent()
    {
        var e = new SimEngine();
        var s = new BlockedSource(e);
        e.AddSource(s);
        e.Schedule(500, s, 0);
        // Bounded stepping: a source that stays due must not make the engine spin at t = 100.
        for (int i = 0; i < 10 && !s.Done; i++) Assert.That(e.Step(), Is.True);
        Assert.That(s.Done, Is.True);
        Assert.That(s.RanAt, Is.EqualTo(new ulong[] { 100, 500, 500 }), "at its time, when time moved to the event, after the event");
        Assert.That(e.Now, Is.EqualTo(500));
        Assert.That(e.Step(), Is.False);
    }

    [Test]
    public void BlockedSource_WithNothingElsePending_StepReturnsFalse()
    {
        var e = new SimEngine();
        var s = new BlockedSource(e);
        e.AddSource(s);
        Assert.That(e.Step(), Is.True, "runs the source once at its time");
        Assert.That(e.Step(), Is.False, "blocked and no event can unblock it");
        Assert.That(e.RunUntil(() => s.Done), Is.False);
        Assert.That(s.RanAt, Is.EqualTo(new ulong[] { 100 }));
    }

    [Test]
    public void RunUntil_StopsWhenDone()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        for (ulong t = 1; t <= 10; t++) e.Schedule(t * 100, r, (int)t);
        Assert.That(e.RunUntil(() => r.Seen.Count == 4), Is.True);
        Assert.That(e.Now, Is.EqualTo(400));
        Assert.That(e.Pending, Is.EqualTo(6));
    }

    [Test]
    public void RunUntil_HonoursTheTimeLimit_IncludingEventsAtTheLimit()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        for (ulong t = 1; t <= 10; t++) e.Schedule(t * 100, r, (int)t);
        Assert.That(e.RunUntil(() => false, limitNs: 500), Is.False);
        Assert.That(r.Seen.Select(s => s.Time), Is.EqualTo(new ulong[] { 100, 200, 300, 400, 500 }));
        Assert.That(e.Now, Is.EqualTo(500), "the clock does not run past the last event within the limit");
        Assert.That(e.Pending, Is.EqualTo(5));
    }

    [Test]
    public void RunUntil_ReturnsFalse_WhenEventsRunOut()
    {
        var e = new SimEngine();
        var r = new Recorder(e);
        e.Schedule(5, r, 1);
        Assert.That(e.RunUntil(() => r.Seen.Count == 2), Is.False);
        Assert.That(e.RunUntil(() => true), Is.True, "already done: true without running anything");
    }

    static List<(ulong, int, long)> RunScenario()
    {
        // A pseudo-random but seeded schedule with many ties, with handlers that schedule follow-ups.
        var e = new SimEngine();
        var r = new Recorder(e);
        var rng = new Random(1234);
        r.Then = (tag, arg) => { if (arg < 3) e.After((ulong)(tag % 3) * 10, r, tag * 7 % 1000, arg + 1); };
        for (int i = 0; i < 300; i++) e.Schedule((ulong)rng.Next(0, 50) * 10, r, i);
        while (e.Step()) { }
        return r.Seen;
    }

    [Test]
    public void SameSchedule_GivesTheSameOrder()
    {
        var a = RunScenario();
        var b = RunScenario();
        Assert.That(a, Has.Count.EqualTo(1200));
        Assert.That(b, Is.EqualTo(a));
        Assert.That(a.Select(x => x.Item1), Is.Ordered, "time never goes back");
    }

    [Test]
    public void ScheduleAndStep_AllocateNothing_InSteadyState()
    {
        var e = new SimEngine();
        var c = new Counter();
        var source = new Source(e); // idle source: polled every step
        e.AddSource(source);
        void Round()
        {
            for (int i = 0; i < 256; i++) e.After((ulong)(i % 17), c, 0, 1);
            while (e.Step()) { }
        }
        Round(); // grows the heap to the peak depth
        long bytes = Allocations.SteadyState(Round);
        Assert.That(bytes, Is.Zero);
        Assert.That(c.Sum, Is.GreaterThanOrEqualTo(512));
    }
}
