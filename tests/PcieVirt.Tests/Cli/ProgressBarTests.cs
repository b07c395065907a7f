using PcieVirt.Cli;

namespace PcieVirt.Tests.Cli;

public class ProgressBarTests
{
    [Test]
    public void Draws_a_bar_with_the_fraction_done_and_erases_it()
    {
        var w = new StringWriter();
        var bar = new ProgressBar(w, "io", 200, delay: TimeSpan.Zero, interval: TimeSpan.Zero);
        bar.Report(50);
        string drawn = w.ToString();
        Assert.That(drawn, Does.StartWith("\rio [").And.Contain(" 25% 50/200"));
        Assert.That(drawn.Count(c => c == '#'), Is.EqualTo(7), "a quarter of 30 cells, rounded down");
        Assert.That(bar.Visible);
        bar.Dispose();
        string erase = w.ToString()[drawn.Length..];
        Assert.That(erase.Trim(), Is.Empty);
        Assert.That(erase, Does.StartWith("\r").And.EndWith("\r"));
        Assert.That(erase.Length, Is.EqualTo(drawn.Length + 1), "blanks the whole line it drew");
    }

    [Test]
    public void Says_nothing_before_its_delay()
    {
        var w = new StringWriter();
        using (var bar = new ProgressBar(w, "bench", 10, delay: TimeSpan.FromHours(1)))
            for (int i = 0; i <= 10; i++) bar.Report(i);
        Assert.That(w.ToString(), Is.Empty);
    }

    [Test]
    public void A_writer_that_is_not_the_console_stderr_never_gets_a_bar()
    {
        var w = new StringWriter();
        Assert.That(ProgressBar.IsTerminal(w), Is.False);
        using (var bar = ProgressBar.ForConsole(w, "bench", 10))
            bar.Report(5);
        Assert.That(w.ToString(), Is.Empty);
    }

    [Test]
    public void A_redirected_console_stderr_never_gets_a_bar()
    {
        Assume.That(Console.IsErrorRedirected, "the test runner redirects stderr");
        var saved = Console.Error;
        var w = new StringWriter();
        Console.SetError(w);
        try
        {
            Assert.That(ProgressBar.IsTerminal(Console.Error), Is.False);
        }
        finally
        {
            Console.SetError(saved);
        }
    }

    [Test]
    public void Progress_past_the_total_shows_as_complete()
    {
        var w = new StringWriter();
        using var bar = new ProgressBar(w, "io", 10, delay: TimeSpan.Zero, interval: TimeSpan.Zero);
        bar.Report(25);
        Assert.That(w.ToString(), Does.Contain("100% 10/10"));
    }
}
