using Microsoft.Extensions.Logging;

namespace PcieVirt.Cli;

/// <summary>
/// Writes log lines to a TextWriter (the command's stderr) as <c>level category: message</c>, without
/// timestamps, so traces of the same run are identical and tests can read them.
/// </summary>
public sealed class TextWriterLoggerProvider(TextWriter writer) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new TextWriterLogger(writer, categoryName);
    public void Dispose() { }

    sealed class TextWriterLogger(TextWriter writer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            writer.WriteLine($"{Short(logLevel)} {category}: {formatter(state, exception)}");
            if (exception != null) writer.WriteLine($"     {exception.GetType().Name}: {exception.Message}");
        }

        static string Short(LogLevel l) => l switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
