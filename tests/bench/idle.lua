-- Holds one timer and nothing else (idle memory); the bench reads our RSS from outside.
require('timer').setTimeout(3000, function() end)
