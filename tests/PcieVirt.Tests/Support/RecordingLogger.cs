using Microsoft.Extensions.Logging;

namespace PcieVirt.Tests.Support;

/// <summary>
/// Keeps every log entry, formatted, with its category, level and event ID. Pass it where one
/// <see cref="ILogger"/> is taken (category ""), or make a factory of it with <see cref="Factory"/> to
/// record every category.
/// </summary>
internal sealed class RecordingLogger : ILogger, ILoggerProvider
{
    public List<(string Category, LogLevel Level, int EventId, string Message)> Entries { get; } = [];

    public bool Has(int eventId) => Entries.Exists(e => e.EventId == eventId);
    public int Count(int eventId) => Entries.FindAll(e => e.EventId == eventId).Count;

    /// <summary>A factory whose loggers of every category record into <paramref name="recorder"/>.</summary>
    public static ILoggerFactory Factory(RecordingLogger recorder, LogLevel minimum) =>
        LoggerFactory.Create(b => b.AddProvider(recorder).SetMinimumLevel(minimum));

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Add(("", logLevel, eventId.Id, formatter(state, exception)));

    public ILogger CreateLogger(string categoryName) => new CategoryLogger(this, categoryName);
    public void Dispose() { }

    sealed class CategoryLogger(RecordingLogger owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Entries.Add((category, logLevel, eventId.Id, formatter(state, exception)));
    }
}
