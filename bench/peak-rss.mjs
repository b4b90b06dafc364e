// Preloaded (node --import) into the CLI process the bench measures: its peak RSS, on exit.
// Portable where /usr/bin/time is not installed.
import {writeSync} from 'node:fs'

process.on('exit', () => writeSync(2, `\nbench-peak-rss-kb ${process.resourceUsage().maxRSS}\n`))
